"""JWT access and refresh tokens, signed by a key ring so keys can rotate.

Every token names its key (``kid`` header). The first key in the ring signs; every key in
the ring verifies, so adding a new key in front and removing the old one a refresh-TTL later
rotates keys without logging anyone out. Token types are claims (``type``) that are always
checked, so an access token can never be used as a refresh token or the other way round.
Claims stay ASCII and free of ``?~>`` because the SPA decodes them with ``atob``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from infra.secrets import resolve
from infra.settings import Settings

TokenType = Literal["access", "refresh", "room"]
ALGORITHM = "HS256"
ROOM_TOKEN_TTL_SECONDS = 4 * 3600
"""A room token (``sid`` = the room id) admits its holder to one room's signalling socket."""


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    type: TokenType
    jti: str
    session_id: str
    expires_at: int
    role: str


class TokenService:
    def __init__(
        self, keys: dict[str, str], issuer: str, access_ttl: int, refresh_ttl: int
    ) -> None:
        if not keys:
            raise ValueError("the key ring is empty")
        self.keys = keys
        self.signing_kid = next(iter(keys))
        self.issuer = issuer
        self.ttl = {"access": access_ttl, "refresh": refresh_ttl, "room": ROOM_TOKEN_TTL_SECONDS}

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenService:
        ring = resolve(settings, settings.jwt_keys, "jwt_keys")
        if ":" not in ring:
            ring = f"local:{ring}"
        keys = dict(item.split(":", 1) for item in ring.split(",") if item)
        return cls(
            keys,
            settings.jwt_issuer,
            settings.access_token_ttl_seconds,
            settings.refresh_token_ttl_seconds,
        )

    def issue(
        self,
        user_id: str,
        token_type: TokenType,
        *,
        session_id: str,
        jti: str | None = None,
        role: str = "user",
        now: float | None = None,
    ) -> tuple[str, TokenClaims]:
        """Sign a token. Refresh tokens carry their session's current ``jti`` so the session
        can tell the current token from an already-rotated one."""
        issued = int(now if now is not None else time.time())
        claims = TokenClaims(
            user_id=user_id,
            type=token_type,
            jti=jti or uuid.uuid4().hex,
            session_id=session_id,
            expires_at=issued + self.ttl[token_type],
            role=role,
        )
        payload: dict[str, Any] = {
            "sub": user_id,
            "type": token_type,
            "jti": claims.jti,
            "sid": session_id,
            "role": role,
            "iss": self.issuer,
            "iat": issued,
            "exp": claims.expires_at,
        }
        token = jwt.encode(
            payload, self.keys[self.signing_kid], ALGORITHM, headers={"kid": self.signing_kid}
        )
        return token, claims

    def verify(self, token: str, expected: TokenType) -> TokenClaims:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self.keys.get(str(kid))
            if key is None:
                raise InvalidToken("unknown signing key")
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "type", "jti", "sid"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        if payload["type"] != expected:
            raise InvalidToken(f"expected a {expected} token")
        return TokenClaims(
            user_id=str(payload["sub"]),
            type=expected,
            jti=str(payload["jti"]),
            session_id=str(payload["sid"]),
            expires_at=int(payload["exp"]),
            role=str(payload.get("role", "user")),
        )

"""What every way of signing in answers (dev, password, OAuth): the token pair and the user,
once the account can be read. Shared by the identity and OAuth routers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request

from api.deps import ReadModelsDep, SettingsDep, TokensDep, Writes, WritesDep
from commands.base import Outcome
from commands.identity import Client, LoginRefused, SignedIn
from eventflow.readmodels import ReadModels
from infra.settings import Settings
from infra.tokens import TokenService
from projections.identity import accounts, get_account


def client_of(request: Request) -> Client:
    host = request.client.host if request.client else ""
    return Client(ip=host[:64], user_agent=request.headers.get("user-agent", "")[:512])


@dataclass(frozen=True)
class SignIn:
    """The services a sign-in answer needs: tokens to issue, the account to show, and the
    wait for the accounts read model."""

    writes: Writes
    read_models: ReadModels
    tokens: TokenService
    settings: Settings

    def login_response(self, outcome: Outcome[SignedIn | LoginRefused]) -> dict[str, Any]:
        """Tokens and user for a successful sign-in command (dev, password or OAuth).

        Waits (bounded) until the accounts projection shows the account, so the SPA's very
        next call (``/users/name``) reads its own write.
        """
        signed = outcome.result
        assert "failed" not in signed, "a refused login is answered before this"
        user_id = signed["user_id"]
        self.writes.services.wait_applied(accounts, outcome, UUID(user_id))
        account = get_account(self.read_models, user_id)
        email, name = (account["email"], account["name"]) if account else (None, None)
        return {
            **self.token_pair(user_id, signed["session_id"], signed["refresh_jti"]),
            "user": {"id": user_id, "email": email, "name": name},
            "isNewUser": signed["created"],
        }

    def token_pair(self, user_id: str, session_id: str, refresh_jti: str) -> dict[str, Any]:
        access, _ = self.tokens.issue(user_id, "access", session_id=session_id)
        refresh_token, _ = self.tokens.issue(
            user_id, "refresh", session_id=session_id, jti=refresh_jti
        )
        return {
            "accessToken": access,
            "refreshToken": refresh_token,
            "expiresIn": self.settings.access_token_ttl_seconds,
        }


def sign_in_services(
    writes: WritesDep, read_models: ReadModelsDep, tokens: TokensDep, settings: SettingsDep
) -> SignIn:
    return SignIn(writes, read_models, tokens, settings)


SignInDep = Annotated[SignIn, Depends(sign_in_services)]

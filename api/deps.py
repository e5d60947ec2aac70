"""Dependencies shared by the routers: the runtime, the caller, command contexts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID, uuid4

from annotated_types import Ge, Le
from fastapi import Depends, Header, Request

from api.errors import ApiError
from api.services import Services
from commands.base import CommandContext
from infra.logs import CORRELATION_ID
from infra.tokens import InvalidToken, TokenClaims
from projections.identity import is_admin


def runtime(request: Request) -> Services:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Services, Depends(runtime)]

Int64 = Annotated[int, Ge(-(2**63)), Le(2**63 - 1)]
"""A numeric id from the URL: a larger number cannot name a row, and SQLite raised
OverflowError on it (a 500 instead of a 422)."""
MAX_PAGE = 1_000_000
"""Pages past this are empty anyway; the bound keeps ``OFFSET = page x size`` inside the
databases' 64-bit integers (a larger page was a 500)."""


def bearer_token(authorization: Annotated[str | None, Header()] = None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "인증이 필요합니다 (authentication required)", "AUTH_REQUIRED")
    return token.strip()


@dataclass(frozen=True)
class Caller:
    user_id: str
    claims: TokenClaims


def caller(
    request: Request, rt: RuntimeDep, token: Annotated[str, Depends(bearer_token)]
) -> Caller:
    try:
        claims = rt.tokens.verify(token, "access")
    except InvalidToken:
        raise ApiError(
            401, "토큰이 유효하지 않거나 만료되었습니다 (invalid or expired token)", "AUTH_ERROR"
        ) from None
    if rt.revocations.is_revoked(claims.user_id, claims.session_id):
        raise ApiError(401, "로그아웃된 세션입니다 (session signed out)", "SESSION_REVOKED")
    request.state.user_id = claims.user_id
    return Caller(claims.user_id, claims)


CallerDep = Annotated[Caller, Depends(caller)]


def optional_caller(
    request: Request, rt: RuntimeDep, authorization: Annotated[str | None, Header()] = None
) -> Caller | None:
    """The caller when a token is sent (a bad one is still a 401), else ``None``: for the
    room routes, which the SPA calls with ``fetch`` and no token."""
    if authorization is None:
        return None
    return caller(request, rt, bearer_token(authorization))


OptionalCallerDep = Annotated[Caller | None, Depends(optional_caller)]


def admin(rt: RuntimeDep, who: CallerDep) -> Caller:
    """The caller, if an operator granted them the admin role (``languagemate users
    grant-admin``). Read from the accounts read model on every request, not from the
    token, so a revocation takes effect at once."""
    if not is_admin(rt.read_models, who.user_id):
        raise ApiError(403, "관리자 권한이 필요합니다 (admin role required)", "ADMIN_REQUIRED")
    return who


AdminDep = Annotated[Caller, Depends(admin)]


def correlation_id() -> UUID:
    """The request's correlation id, set by ``api.app.RequestContext`` from the
    ``X-Correlation-Id`` header (or made up), so its events and log lines share it."""
    current = CORRELATION_ID.get()
    return UUID(current) if current else uuid4()


def user_context(
    caller: CallerDep,
    correlation: Annotated[UUID, Depends(correlation_id)],
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CommandContext:
    """The context of a command a signed-in user issues (``Idempotency-Key`` honoured)."""
    return CommandContext(
        actor_id=caller.user_id, correlation_id=correlation, idempotency_key=idempotency_key
    )


UserContext = Annotated[CommandContext, Depends(user_context)]

"""Identity routes: sign-up, login, refresh, logout, login history, account deletion.

Every successful sign-in answers with the same shape (``SignIn.login_response``) whichever way the
user came in (dev login, password, OAuth).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import pyotp
import segno
from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import (
    CallerDep,
    EventStoreDep,
    LoginThrottleDep,
    PepperDep,
    ReadModelsDep,
    RevocationsDep,
    SettingsDep,
    TokensDep,
    UserContext,
    WritesDep,
    bearer_token,
    correlation_id,
)
from api.envelope import ok
from api.errors import ApiError
from api.openapi import error_responses
from api.sign_in import SignInDep, client_of
from commands.base import CommandContext
from commands.identity import (
    ChangePassword,
    CloseAccount,
    DevLogin,
    Login,
    Register,
    change_password,
    delete_account,
    dev_login,
    disable_two_factor,
    enable_two_factor,
    log_in,
    log_out,
    refresh,
    register,
)
from domain.identity import RefreshResult
from eventflow.readmodels import ReadModels
from infra.ratelimit import TooManyAttempts
from infra.tokens import InvalidToken
from projections.identity import LoginRow, accounts, get_account, login_history

router = APIRouter(prefix="/api/v1", tags=["identity"])
Correlation = Annotated[UUID, Depends(correlation_id)]


def _dev_login_enabled(settings: SettingsDep) -> None:
    if not settings.dev_login:
        raise ApiError(404, "Not Found", "NOT_FOUND")


@router.post("/auth/dev-login", dependencies=[Depends(_dev_login_enabled)])
def post_dev_login(
    body: DevLogin,
    request: Request,
    writes: WritesDep,
    pepper: PepperDep,
    signing_in: SignInDep,
    correlation: Correlation,
) -> dict[str, Any]:
    """Sign in as anyone by e-mail: local use and browser tests only (off by default)."""
    ctx = CommandContext(correlation_id=correlation)
    outcome = dev_login(writes.bus, ctx, body, pepper=pepper, client=client_of(request))
    return ok(signing_in.login_response(outcome))


@router.post("/auth/register")
def post_register(
    body: Register,
    request: Request,
    writes: WritesDep,
    pepper: PepperDep,
    signing_in: SignInDep,
    correlation: Correlation,
) -> dict[str, Any]:
    outcome = register(
        writes.bus,
        CommandContext(correlation_id=correlation),
        body,
        pepper=pepper,
        client=client_of(request),
    )
    return ok(signing_in.login_response(outcome))


@router.post("/auth/login", responses=error_responses(401))
def post_login(
    body: Login,
    request: Request,
    writes: WritesDep,
    pepper: PepperDep,
    throttle: LoginThrottleDep,
    signing_in: SignInDep,
    correlation: Correlation,
) -> dict[str, Any]:
    client = client_of(request)
    try:
        throttle.check(body.email, client.ip)
    except TooManyAttempts as exc:
        raise ApiError(
            429,
            "로그인 시도가 너무 많습니다. 잠시 후 다시 시도하세요 (too many login attempts)",
            "TOO_MANY_ATTEMPTS",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    outcome = log_in(
        writes.bus, CommandContext(correlation_id=correlation), body, pepper=pepper, client=client
    )
    if outcome.result.get("second_factor"):
        throttle.failed(body.email, client.ip)
        raise ApiError(401, "two-factor code required or wrong", "TWO_FACTOR_REQUIRED")
    if outcome.result.get("failed"):
        throttle.failed(body.email, client.ip)
        raise ApiError(
            401,
            "이메일 또는 비밀번호가 올바르지 않습니다 (invalid e-mail or password)",
            "INVALID_CREDENTIALS",
        )
    throttle.succeeded(body.email)
    return ok(signing_in.login_response(outcome))


@router.post("/auth/refresh", responses=error_responses(401))
def post_refresh(
    request: Request,
    writes: WritesDep,
    tokens: TokensDep,
    revocations: RevocationsDep,
    signing_in: SignInDep,
    token: Annotated[str, Depends(bearer_token)],
    correlation: Correlation,
) -> dict[str, Any]:
    """Rotate: the SPA sends the refresh token as the Bearer token and no body."""
    try:
        claims = tokens.verify(token, "refresh")
    except InvalidToken:
        raise ApiError(
            401,
            "리프레시 토큰이 유효하지 않습니다 (invalid refresh token)",
            "INVALID_REFRESH_TOKEN",
        ) from None
    outcome = refresh(
        writes.bus,
        CommandContext(actor_id=claims.user_id, correlation_id=correlation),
        user_id=claims.user_id,
        session_id=claims.session_id,
        presented_jti=claims.jti,
        client=client_of(request),
    )
    result = RefreshResult(outcome.result["result"])
    if result in (RefreshResult.REUSED, RefreshResult.REVOKED):
        revocations.revoke_session(claims.session_id)
        raise ApiError(
            401, "세션이 만료되었습니다. 다시 로그인하세요 (session revoked)", "SESSION_REVOKED"
        )
    jti = outcome.result["refresh_jti"]
    return ok(signing_in.token_pair(claims.user_id, claims.session_id, jti))


@router.post("/auth/logout")
def post_logout(
    caller: CallerDep, writes: WritesDep, revocations: RevocationsDep, correlation: Correlation
) -> dict[str, Any]:
    """Revokes the whole refresh-token family of this sign-in, and its access tokens."""
    log_out(
        writes.bus,
        CommandContext(actor_id=caller.user_id, correlation_id=correlation),
        session_id=caller.claims.session_id,
    )
    revocations.revoke_session(caller.claims.session_id)
    return ok({"loggedOut": True})


@router.get("/users/name")
def get_user_name(caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    account = get_account(read_models, caller.user_id)
    if account is None:
        raise ApiError(404, "사용자를 찾을 수 없습니다 (user not found)", "USER_NOT_FOUND")
    return ok({"name": account["name"]}, mirror=True)


@router.get("/settings/login-history")
def get_login_history(caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    entries = [_history_entry(row) for row in login_history(read_models, caller.user_id)]
    return ok(entries)


def _history_entry(row: LoginRow) -> dict[str, Any]:
    from user_agents import parse

    agent = parse(row["user_agent"] or "")
    device = "Mobile" if agent.is_mobile else "Tablet" if agent.is_tablet else "Desktop"
    return {
        "loginTime": row["at"].isoformat(),
        "ipAddress": row["ip"],
        "device": f"{device} · {agent.os.family}",
        "browser": agent.browser.family,
        "location": None,
        "provider": row["provider"],
        "outcome": row["outcome"],
        "suspicious": row["suspicious"],
        "suspiciousReason": row["suspicious_reason"],
    }


@router.delete("/settings/account")
def delete_my_account(
    caller: CallerDep,
    writes: WritesDep,
    store: EventStoreDep,
    revocations: RevocationsDep,
    correlation: Correlation,
    body: Annotated[CloseAccount | None, Body()] = None,
) -> dict[str, Any]:
    """Deactivates the account, destroys its key (crypto-shredding) and signs it out."""
    ctx = CommandContext(actor_id=caller.user_id, correlation_id=correlation)
    outcome = delete_account(
        writes.bus, ctx, user_id=caller.user_id, password=body.password if body else None
    )
    if store.cipher is not None:
        store.cipher.keys.destroy(caller.user_id)
    revocations.revoke_user(caller.user_id)
    writes.services.wait_applied(accounts, outcome, UUID(caller.user_id))
    return ok({"deleted": True})


@router.patch("/settings/password")
def patch_password(
    body: ChangePassword, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    change_password(writes.bus, ctx, body, user_id=caller.user_id)
    return ok({"changed": True})


def _two_factor_state(
    read_models: ReadModels, user_id: str, qr_code: str | None = None
) -> dict[str, Any]:
    account = get_account(read_models, user_id)
    return ok({"enabled": bool(account and account["two_factor"]), "qrCode": qr_code}, mirror=True)


@router.get("/settings/two-factor")
def get_two_factor(caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    return _two_factor_state(read_models, caller.user_id)


@router.post("/settings/two-factor/enable")
def post_enable_two_factor(
    caller: CallerDep, ctx: UserContext, writes: WritesDep, read_models: ReadModelsDep
) -> dict[str, Any]:
    """Turn TOTP on and hand back the QR code to scan; the secret is stored encrypted
    with the user's key and required at every later password login."""
    outcome, secret = enable_two_factor(writes.bus, ctx, user_id=caller.user_id)
    writes.services.wait_applied(accounts, outcome, UUID(caller.user_id))
    account = get_account(read_models, caller.user_id)
    uri = pyotp.TOTP(secret).provisioning_uri(
        name=account["email"] if account else caller.user_id, issuer_name="LanguageMate"
    )
    return _two_factor_state(
        read_models, caller.user_id, segno.make(uri, error="m").svg_data_uri(scale=4)
    )


class TwoFactorCode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^\d{6}$")


@router.post("/settings/two-factor/disable")
def post_disable_two_factor(
    body: TwoFactorCode,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    read_models: ReadModelsDep,
) -> dict[str, Any]:
    outcome = disable_two_factor(writes.bus, ctx, user_id=caller.user_id, code=body.code)
    writes.services.wait_applied(accounts, outcome, UUID(caller.user_id))
    return _two_factor_state(read_models, caller.user_id)

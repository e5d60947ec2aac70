"""Identity routes: sign-in and who-am-I (``/users/name``, read from the accounts projection)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends

from api.deps import CallerDep, RuntimeDep, correlation_id
from api.envelope import ok
from api.errors import ApiError
from commands.base import CommandContext, Outcome
from commands.identity import DevLogin, dev_login
from infra.runtime import Runtime
from projections.identity import accounts, get_account

router = APIRouter(prefix="/api/v1", tags=["identity"])


def _dev_login_enabled(rt: RuntimeDep) -> None:
    if not rt.settings.dev_login:
        raise ApiError(404, "Not Found", "NOT_FOUND")


@router.post("/auth/dev-login", dependencies=[Depends(_dev_login_enabled)])
def post_dev_login(
    body: DevLogin, rt: RuntimeDep, correlation: Annotated[UUID, Depends(correlation_id)]
) -> dict[str, Any]:
    """Sign in as anyone by e-mail: local use and browser tests only (off by default)."""
    outcome = dev_login(rt.bus, CommandContext(correlation_id=correlation), body, pepper=rt.pepper)
    return ok(login_response(rt, outcome))


def login_response(rt: Runtime, outcome: Outcome) -> dict[str, Any]:
    """Tokens and user for a successful sign-in command (dev, password or OAuth).

    Waits (bounded) until the accounts projection shows the account, so the SPA's very next
    call (``/users/name``) reads its own write.
    """
    user_id = outcome.result["user_id"]
    session_id = outcome.result["session_id"]
    rt.wait_applied(accounts, outcome.last_position, UUID(user_id))
    account = get_account(rt.read_models, user_id) or {}
    access, _ = rt.tokens.issue(user_id, "access", session_id=session_id)
    refresh, _ = rt.tokens.issue(user_id, "refresh", session_id=session_id)
    return {
        "accessToken": access,
        "refreshToken": refresh,
        "expiresIn": rt.settings.access_token_ttl_seconds,
        "user": {"id": user_id, "email": account.get("email"), "name": account.get("name")},
        "isNewUser": bool(outcome.result["created"]),
    }


@router.get("/users/name")
def get_user_name(caller: CallerDep, rt: RuntimeDep) -> dict[str, Any]:
    account = get_account(rt.read_models, caller.user_id)
    if account is None:
        raise ApiError(404, "사용자를 찾을 수 없습니다 (user not found)", "USER_NOT_FOUND")
    return ok({"name": account["name"]}, mirror=True)

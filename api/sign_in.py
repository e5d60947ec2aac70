"""What every way of signing in answers (dev, password, OAuth): the token pair and the user,
once the account can be read. Shared by the identity and OAuth routers."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import Request

from api.services import Services
from commands.base import Outcome
from commands.identity import Client
from projections.identity import accounts, get_account


def client_of(request: Request) -> Client:
    host = request.client.host if request.client else ""
    return Client(ip=host[:64], user_agent=request.headers.get("user-agent", "")[:512])


def login_response(rt: Services, outcome: Outcome) -> dict[str, Any]:
    """Tokens and user for a successful sign-in command (dev, password or OAuth).

    Waits (bounded) until the accounts projection shows the account, so the SPA's very next
    call (``/users/name``) reads its own write.
    """
    user_id = outcome.result["user_id"]
    rt.wait_applied(accounts, outcome, UUID(user_id))
    account = get_account(rt.read_models, user_id) or {}
    return {
        **token_pair(rt, user_id, outcome.result["session_id"], outcome.result["refresh_jti"]),
        "user": {"id": user_id, "email": account.get("email"), "name": account.get("name")},
        "isNewUser": bool(outcome.result["created"]),
    }


def token_pair(rt: Services, user_id: str, session_id: str, refresh_jti: str) -> dict[str, Any]:
    access, _ = rt.tokens.issue(user_id, "access", session_id=session_id)
    refresh_token, _ = rt.tokens.issue(user_id, "refresh", session_id=session_id, jti=refresh_jti)
    return {
        "accessToken": access,
        "refreshToken": refresh_token,
        "expiresIn": rt.settings.access_token_ttl_seconds,
    }

"""Identity commands: sign-in flows that register accounts on first use."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from uuid import UUID, uuid4, uuid5

from pydantic import BaseModel, ConfigDict, Field, field_validator

from commands.base import CommandBus, CommandContext, Outcome, UnitOfWork
from domain.identity import Account, Provider

ACCOUNT_NAMESPACE = UUID("0b8f3f5e-5d55-4d0e-8b0a-6a3f2f1c7e21")
EMAIL_PATTERN = r"^[^@\s<>?~]+@[^@\s<>?~]+\.[^@\s<>?~]+$"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def account_id_for(pepper: str, email: str) -> UUID:
    """Stable account id for an address, keyed with a secret so ids reveal nothing."""
    digest = hmac.new(pepper.encode(), normalise_email(email).encode(), hashlib.sha256)
    return uuid5(ACCOUNT_NAMESPACE, digest.hexdigest())


class DevLogin(BaseModel):
    """``POST /auth/dev-login`` for local use and browser tests (off in production)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str = Field(min_length=3, max_length=320, pattern=EMAIL_PATTERN)
    name: str = Field(min_length=1, max_length=100)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return normalise_email(value)


def sign_in(
    bus: CommandBus,
    ctx: CommandContext,
    *,
    pepper: str,
    email: str,
    name: str,
    provider: Provider,
) -> Outcome:
    """Register the account on first use, then record the sign-in (one session per login)."""
    email = normalise_email(email)
    account_id = account_id_for(pepper, email)
    session_id = uuid4().hex

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        account = uow.load(Account, account_id)
        created = not account.version
        if created:
            account.register(uow.cause, email=email, name=name, provider=provider)
        account.log_in(uow.cause, provider=provider, session_id=session_id)
        return {
            "user_id": str(account_id),
            "session_id": session_id,
            "created": created,
        }

    return bus.run("identity.SignIn", ctx, decide)


def dev_login(bus: CommandBus, ctx: CommandContext, command: DevLogin, *, pepper: str) -> Outcome:
    return sign_in(bus, ctx, pepper=pepper, email=command.email, name=command.name, provider="dev")

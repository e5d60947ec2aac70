"""Identity commands: sign-in flows, refresh-token rotation, logout and account deletion."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict
from uuid import UUID, uuid4, uuid5

import bcrypt
import pyotp
from pydantic import BaseModel, ConfigDict, Field, field_validator

from commands.base import CommandBus, CommandContext, Outcome, UnitOfWork
from domain.errors import RuleViolation
from domain.identity import (
    EMAIL_PATTERN,
    Account,
    AuthSession,
    Provider,
    RefreshResult,
    Role,
    normalise_email,
)

ACCOUNT_NAMESPACE = UUID("0b8f3f5e-5d55-4d0e-8b0a-6a3f2f1c7e21")
BCRYPT_ROUNDS = 12
_DUMMY_HASH = bcrypt.hashpw(b"timing-equaliser", bcrypt.gensalt(BCRYPT_ROUNDS))
"""Checked against when the account does not exist, so unknown and known addresses take the
same time to fail (no account enumeration by timing)."""


def account_id_for(pepper: str, email: str) -> UUID:
    """Stable account id for an address, keyed with a secret so ids reveal nothing."""
    digest = hmac.new(pepper.encode(), normalise_email(email).encode(), hashlib.sha256)
    return uuid5(ACCOUNT_NAMESPACE, digest.hexdigest())


def current_account_id(bus: CommandBus, pepper: str, email: str) -> UUID:
    """The live account id for an address.

    Deleting an account destroys its key for good, so a later sign-up with the same address
    must be a new account: ids form a chain, each deleted one pointing to the next.
    """
    account_id = account_id_for(pepper, email)
    while (account := bus.store.load(Account, account_id)) is not None and account.deleted:
        account_id = uuid5(account_id, "next")
    return account_id


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DevLogin(_Body):
    """``POST /auth/dev-login`` for local use and browser tests (off in production)."""

    email: str = Field(min_length=3, max_length=320, pattern=EMAIL_PATTERN)
    name: str = Field(min_length=1, max_length=100)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return normalise_email(value)


class Register(DevLogin):
    password: str = Field(min_length=8, max_length=72)
    """bcrypt reads at most 72 bytes; longer passwords would be silently truncated."""

    @field_validator("password")
    @classmethod
    def _bytes(cls, value: str) -> str:
        if len(value.encode()) > 72:
            raise ValueError("password must be at most 72 bytes")
        return value


class Login(_Body):
    email: str = Field(min_length=3, max_length=320, pattern=EMAIL_PATTERN)
    password: str = Field(min_length=1, max_length=200)
    code: str | None = Field(default=None, pattern=r"^\d{6}$")
    """The TOTP code, required once two-factor authentication is on."""

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return normalise_email(value)


class CloseAccount(_Body):
    password: str | None = Field(default=None, max_length=200)


class SessionStarted(TypedDict):
    """A new sign-in session and the refresh token it starts with."""

    user_id: str
    session_id: str
    refresh_jti: str


class SignedIn(SessionStarted):
    """What a successful sign-in answers: the session to issue tokens for; ``created``: the
    account was registered by this sign-in."""

    created: bool


class LoginRefused(TypedDict):
    """A password login refused (and recorded as a failure); ``second_factor``: the
    password was right but the two-factor code was missing or wrong."""

    user_id: None
    failed: Literal[True]
    second_factor: NotRequired[bool]


class Refreshed(TypedDict):
    """How a refresh went (``RefreshResult``); the new token only if it was rotated."""

    result: str
    refresh_jti: NotRequired[str]
    session_id: NotRequired[str]


@dataclass(frozen=True)
class Client:
    """Where a request came from, for the login history (personal data: encrypted)."""

    ip: str = ""
    user_agent: str = ""


def _start_session(
    uow: UnitOfWork, account: Account, provider: Provider, client: Client
) -> SessionStarted:
    session_id, jti = uuid4(), uuid4().hex
    account.log_in(
        uow.cause,
        provider=provider,
        session_id=session_id.hex,
        ip=client.ip,
        user_agent=client.user_agent,
    )
    session = uow.create(AuthSession, session_id)
    session.start(uow.cause, user_id=str(account.id), provider=provider, refresh_jti=jti)
    return {"user_id": str(account.id), "session_id": session_id.hex, "refresh_jti": jti}


def sign_in(
    bus: CommandBus,
    ctx: CommandContext,
    *,
    pepper: str,
    email: str,
    name: str,
    provider: Provider,
    client: Client = Client(),
) -> Outcome[SignedIn]:
    """Register the account on first use (dev and OAuth), then start a session."""
    email = normalise_email(email)
    account_id = current_account_id(bus, pepper, email)

    def decide(uow: UnitOfWork) -> SignedIn:
        account = uow.load(Account, account_id)
        created = not account.registered
        if created:
            account.register(uow.cause, email=email, name=name, provider=provider)
        return {**_start_session(uow, account, provider, client), "created": created}

    return bus.run("identity.SignIn", ctx, decide)


def dev_login(
    bus: CommandBus,
    ctx: CommandContext,
    command: DevLogin,
    *,
    pepper: str,
    client: Client = Client(),
) -> Outcome[SignedIn]:
    return sign_in(
        bus,
        ctx,
        pepper=pepper,
        email=command.email,
        name=command.name,
        provider="dev",
        client=client,
    )


def register(
    bus: CommandBus,
    ctx: CommandContext,
    command: Register,
    *,
    pepper: str,
    client: Client = Client(),
) -> Outcome[SignedIn]:
    """Password sign-up. The hash is computed once, outside the retry loop (it is slow)."""
    password_hash = bcrypt.hashpw(command.password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()
    account_id = current_account_id(bus, pepper, command.email)

    def decide(uow: UnitOfWork) -> SignedIn:
        account = uow.load(Account, account_id)
        account.register(uow.cause, email=command.email, name=command.name, provider="password")
        account.set_password(uow.cause, password_hash=password_hash)
        return {**_start_session(uow, account, "password", client), "created": True}

    return bus.run("identity.Register", ctx, decide)


def log_in(
    bus: CommandBus, ctx: CommandContext, command: Login, *, pepper: str, client: Client = Client()
) -> Outcome[SignedIn | LoginRefused]:
    """Password login. Every failure is recorded (``LoginFailed``) and answered the same way."""
    account_id = current_account_id(bus, pepper, command.email)
    # Read once to check the password outside the retry loop; the decision re-checks state.
    current = bus.store.load(Account, account_id)
    stored = current.password_hash.encode() if current and current.password_hash else _DUMMY_HASH
    password_ok = bcrypt.checkpw(command.password.encode(), stored) and stored is not _DUMMY_HASH

    def decide(uow: UnitOfWork) -> SignedIn | LoginRefused:
        account = uow.load(Account, account_id)
        usable = password_ok and account.registered and account.active and not account.deleted
        if not usable or account.password_hash != stored.decode():
            account.fail_login(uow.cause, ip=client.ip, user_agent=client.user_agent)
            return {"user_id": None, "failed": True}
        if account.two_factor_secret and not totp_ok(account.two_factor_secret, command.code):
            account.fail_login(
                uow.cause, ip=client.ip, user_agent=client.user_agent, second_factor=True
            )
            return {"user_id": None, "failed": True, "second_factor": True}
        return {**_start_session(uow, account, "password", client), "created": False}

    return bus.run("identity.LogIn", ctx, decide)


def _password_matches(password: str | None, account: Account | None) -> bool:
    if not password or account is None or not account.password_hash:
        return False
    return bcrypt.checkpw(password.encode(), account.password_hash.encode())


def refresh(
    bus: CommandBus,
    ctx: CommandContext,
    *,
    user_id: str,
    session_id: str,
    presented_jti: str,
    client: Client = Client(),
) -> Outcome[Refreshed]:
    """Rotate the refresh token of a session; reuse of a rotated one revokes the family."""
    new_jti = uuid4().hex

    def decide(uow: UnitOfWork) -> Refreshed:
        session = uow.load(AuthSession, UUID(hex=session_id))
        account = uow.load(Account, UUID(user_id))
        if session.user_id != user_id:
            return {"result": RefreshResult.REVOKED.value}
        if not account.active:
            session.revoke(uow.cause, reason="account_closed")
            return {"result": RefreshResult.REVOKED.value}
        result = session.refresh(
            uow.cause,
            presented_jti=presented_jti,
            new_jti=new_jti,
            ip=client.ip,
            user_agent=client.user_agent,
        )
        return {
            "result": result.value,
            "refresh_jti": session.refresh_jti,
            "session_id": session_id,
        }

    return bus.run("identity.Refresh", ctx, decide)


def log_out(bus: CommandBus, ctx: CommandContext, *, session_id: str) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        uow.load(AuthSession, UUID(hex=session_id)).revoke(uow.cause, reason="logout")
        return {"session_id": session_id}

    return bus.run("identity.LogOut", ctx, decide)


def delete_account(
    bus: CommandBus, ctx: CommandContext, *, user_id: str, password: str | None
) -> Outcome:
    """The owner closes the account; password accounts must confirm with the password."""
    account_id = UUID(user_id)
    current = bus.store.load(Account, account_id)
    needs_password = current is not None and bool(current.password_hash)
    if needs_password and not _password_matches(password, current):
        raise RuleViolation("the password is not correct", code="WRONG_PASSWORD")

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        uow.load(Account, account_id).delete(uow.cause)
        return {"user_id": user_id}

    return bus.run("identity.DeleteAccount", ctx, decide)


def set_role(
    bus: CommandBus, ctx: CommandContext, *, pepper: str, email: str, role: Role, granted: bool
) -> Outcome:
    """Grant or revoke a role by e-mail address (the operator's command line)."""
    account_id = current_account_id(bus, pepper, email)

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        account = uow.load(Account, account_id)
        if not account.registered or account.deleted:
            raise RuleViolation("no such account", code="ACCOUNT_NOT_FOUND")
        if granted:
            account.grant(uow.cause, role)
        else:
            account.revoke_role(uow.cause, role)
        return {"user_id": str(account_id), "role": role, "granted": granted}

    return bus.run("identity.SetRole", ctx, decide)


class ChangePassword(_Body):
    current_password: str = Field(min_length=1, max_length=200, alias="currentPassword")
    new_password: str = Field(min_length=8, max_length=72, alias="newPassword")


def change_password(
    bus: CommandBus, ctx: CommandContext, command: ChangePassword, *, user_id: str
) -> Outcome:
    """Only for password accounts, and only with the current password."""
    account_id = UUID(user_id)
    current = bus.store.load(Account, account_id)
    if not _password_matches(command.current_password, current):
        raise RuleViolation("the current password is not correct", code="WRONG_PASSWORD")
    new_hash = bcrypt.hashpw(command.new_password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        uow.load(Account, account_id).set_password(uow.cause, password_hash=new_hash)
        return {"user_id": user_id}

    return bus.run("identity.ChangePassword", ctx, decide)


def totp_ok(secret: str, code: str | None) -> bool:
    """A 6-digit TOTP code, accepting one 30 s step of clock drift either way. Without a
    secret (two-factor never enabled) no code is right; pyotp would raise ValueError."""
    return bool(secret and code) and pyotp.TOTP(secret).verify(str(code), valid_window=1)


def enable_two_factor(bus: CommandBus, ctx: CommandContext, *, user_id: str) -> tuple[Outcome, str]:
    secret = pyotp.random_base32()

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        uow.load(Account, UUID(user_id)).enable_two_factor(uow.cause, secret=secret)
        return {"user_id": user_id}

    return bus.run("identity.EnableTwoFactor", ctx, decide), secret


def disable_two_factor(bus: CommandBus, ctx: CommandContext, *, user_id: str, code: str) -> Outcome:
    current = bus.store.load(Account, UUID(user_id))
    if current is None or not totp_ok(current.two_factor_secret, code):
        raise RuleViolation("the code is not correct", code="WRONG_TWO_FACTOR_CODE")

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        uow.load(Account, UUID(user_id)).disable_two_factor(uow.cause)
        return {"user_id": user_id}

    return bus.run("identity.DisableTwoFactor", ctx, decide)

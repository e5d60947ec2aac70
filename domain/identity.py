"""Identity: accounts, how people sign in, and the refresh-token family of each sign-in.

An account's id is chosen by the command layer (derived from the e-mail address with a secret
pepper), so two concurrent first logins with one address collide on version 1 of the same
aggregate instead of creating two accounts. Failed logins for unknown addresses land on that
same id without registering it, so the audit trail of an address is in one stream.

Each sign-in starts an ``AuthSession``: one refresh-token family. Refreshing rotates the
current token; presenting an older one means it leaked, so the whole family is revoked.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import Field

from domain.aggregate import Aggregate, Cause, applies
from domain.errors import Conflict, RuleViolation
from domain.events import DomainEvent, Personal

Provider = Literal["dev", "password", "google", "naver"]
Role = Literal["admin"]
EMAIL_PATTERN = r"^[^@\s<>?~]+@[^@\s<>?~]+\.[^@\s<>?~]+$"
"""What an address must look like, however it arrives (a form, an OAuth provider)."""


def normalise_email(email: str) -> str:
    """One spelling per address: accounts are keyed by it."""
    return email.strip().lower()


REFRESH_GRACE = timedelta(seconds=10)
"""A just-rotated token presented again within this window is a client race (two tabs, two
parallel 401s), not a theft: it gets the current token instead of revoking the family."""


class AccountRegistered(DomainEvent):
    topic = "identity.AccountRegistered"

    email: Personal = Field(max_length=320)
    name: Personal = Field(max_length=100)
    provider: Provider


class PasswordSet(DomainEvent):
    """A bcrypt hash (encrypted like personal data: analysts never see credentials)."""

    topic = "identity.PasswordSet"

    password_hash: Personal = Field(max_length=200)


class LoggedIn(DomainEvent):
    """One successful sign-in; the start of a refresh-token family."""

    topic = "identity.LoggedIn"

    provider: Provider
    session_id: str = Field(max_length=64)
    ip: Personal = Field(default="", max_length=64)
    user_agent: Personal = Field(default="", max_length=512)


class LoginFailed(DomainEvent):
    topic = "identity.LoginFailed"

    reason: Literal["bad_credentials", "deactivated", "second_factor"]
    ip: Personal = Field(default="", max_length=64)
    user_agent: Personal = Field(default="", max_length=512)


class TwoFactorEnabled(DomainEvent):
    """A TOTP secret (encrypted like personal data) now guards password logins."""

    topic = "identity.TwoFactorEnabled"

    secret: Personal = Field(max_length=64)


class TwoFactorDisabled(DomainEvent):
    topic = "identity.TwoFactorDisabled"


class AccountDeactivated(DomainEvent):
    topic = "identity.AccountDeactivated"

    reason: str = Field(max_length=200)


class AccountDeleted(DomainEvent):
    """The owner deleted the account: its key is destroyed, its personal data erased."""

    topic = "identity.AccountDeleted"


class RoleGranted(DomainEvent):
    """An operator gave the account a role (only from the command line: no route grants)."""

    topic = "identity.RoleGranted"

    role: Role


class RoleRevoked(DomainEvent):
    topic = "identity.RoleRevoked"

    role: Role


class Account(Aggregate):
    email: str = ""
    name: str = ""
    provider: str = ""
    password_hash: str = ""
    active: bool = False
    registered: bool = False
    deleted: bool = False
    two_factor_secret: str = ""
    roles: frozenset[str] = frozenset()

    def register(self, cause: Cause, *, email: str, name: str, provider: Provider) -> None:
        if self.registered:
            raise Conflict("account already exists", code="ACCOUNT_EXISTS")
        self._record(AccountRegistered, cause, email=email, name=name, provider=provider)

    def set_password(self, cause: Cause, *, password_hash: str) -> None:
        self._require_active()
        self._record(PasswordSet, cause, password_hash=password_hash)

    def log_in(
        self,
        cause: Cause,
        *,
        provider: Provider,
        session_id: str,
        ip: str = "",
        user_agent: str = "",
    ) -> None:
        self._require_active()
        self._record(
            LoggedIn, cause, provider=provider, session_id=session_id, ip=ip, user_agent=user_agent
        )

    def fail_login(
        self, cause: Cause, *, ip: str = "", user_agent: str = "", second_factor: bool = False
    ) -> None:
        reason = "deactivated" if self.registered and not self.active else "bad_credentials"
        reason = "second_factor" if second_factor and reason == "bad_credentials" else reason
        self._record(LoginFailed, cause, reason=reason, ip=ip, user_agent=user_agent)

    def enable_two_factor(self, cause: Cause, *, secret: str) -> None:
        self._require_active()
        if self.two_factor_secret:
            raise Conflict(
                "two-factor authentication is already on", code="TWO_FACTOR_ALREADY_ENABLED"
            )
        self._record(TwoFactorEnabled, cause, secret=secret)

    def disable_two_factor(self, cause: Cause) -> None:
        self._require_active()
        if self.two_factor_secret:
            self._record(TwoFactorDisabled, cause)

    def deactivate(self, cause: Cause, *, reason: str) -> None:
        if self.registered and self.active:
            self._record(AccountDeactivated, cause, reason=reason)

    def delete(self, cause: Cause) -> None:
        if not self.registered or self.deleted:
            raise RuleViolation("no such account", code="ACCOUNT_NOT_FOUND")
        self.deactivate(cause, reason="deleted by owner")
        self._record(AccountDeleted, cause)

    def grant(self, cause: Cause, role: Role) -> None:
        self._require_active()
        if role not in self.roles:
            self._record(RoleGranted, cause, role=role)

    def revoke_role(self, cause: Cause, role: Role) -> None:
        if role in self.roles:
            self._record(RoleRevoked, cause, role=role)

    def _require_active(self) -> None:
        if not self.registered or self.deleted:
            raise RuleViolation("no such account", code="ACCOUNT_NOT_FOUND")
        if not self.active:
            raise RuleViolation("account is deactivated", code="ACCOUNT_DEACTIVATED")

    @applies(AccountRegistered)
    def _registered(self, event: AccountRegistered) -> None:
        self.email, self.name, self.provider = event.email, event.name, event.provider
        self.active, self.registered = True, True

    @applies(PasswordSet)
    def _password_set(self, event: PasswordSet) -> None:
        self.password_hash = event.password_hash

    @applies(LoggedIn, LoginFailed)
    def _login_attempt(self, event: DomainEvent) -> None:
        pass

    @applies(TwoFactorEnabled)
    def _two_factor_on(self, event: TwoFactorEnabled) -> None:
        self.two_factor_secret = event.secret

    @applies(TwoFactorDisabled)
    def _two_factor_off(self, event: TwoFactorDisabled) -> None:
        self.two_factor_secret = ""

    @applies(AccountDeactivated)
    def _deactivated(self, event: AccountDeactivated) -> None:
        self.active = False

    @applies(AccountDeleted)
    def _deleted(self, event: AccountDeleted) -> None:
        self.deleted, self.active = True, False

    @applies(RoleGranted)
    def _granted(self, event: RoleGranted) -> None:
        self.roles = self.roles | {event.role}

    @applies(RoleRevoked)
    def _revoked(self, event: RoleRevoked) -> None:
        self.roles = self.roles - {event.role}


class SessionStarted(DomainEvent):
    topic = "identity.SessionStarted"

    user_id: str = Field(max_length=36)
    provider: Provider
    refresh_jti: str = Field(max_length=64)


class RefreshTokenRotated(DomainEvent):
    topic = "identity.RefreshTokenRotated"

    user_id: str = Field(max_length=36)
    refresh_jti: str = Field(max_length=64)


class RefreshTokenReused(DomainEvent):
    """An already-rotated refresh token came back: someone else may hold the family."""

    topic = "identity.RefreshTokenReused"
    personal_subject = "user_id"

    user_id: str = Field(max_length=36)
    presented_jti: str = Field(max_length=64)
    ip: Personal = Field(default="", max_length=64)
    user_agent: Personal = Field(default="", max_length=512)


class SessionRevoked(DomainEvent):
    topic = "identity.SessionRevoked"

    user_id: str = Field(max_length=36)
    reason: Literal["logout", "refresh_token_reuse", "account_closed"]


class RefreshResult(StrEnum):
    ROTATED = "rotated"
    GRACE = "grace"
    REUSED = "reused"
    REVOKED = "revoked"


class AuthSession(Aggregate):
    user_id: str = ""
    refresh_jti: str = ""
    previous_jti: str = ""
    rotated_at: datetime | None = None
    revoked: bool = False

    def start(self, cause: Cause, *, user_id: str, provider: Provider, refresh_jti: str) -> None:
        if self.version:
            raise Conflict("session already started", code="SESSION_EXISTS")
        self._record(
            SessionStarted, cause, user_id=user_id, provider=provider, refresh_jti=refresh_jti
        )

    def refresh(
        self, cause: Cause, *, presented_jti: str, new_jti: str, ip: str = "", user_agent: str = ""
    ) -> RefreshResult:
        """Rotate on the current token; revoke the family on an older one."""
        if not self.version or self.revoked:
            return RefreshResult.REVOKED
        if presented_jti == self.refresh_jti:
            self._record(RefreshTokenRotated, cause, user_id=self.user_id, refresh_jti=new_jti)
            return RefreshResult.ROTATED
        in_grace = (
            presented_jti == self.previous_jti
            and self.rotated_at is not None
            and cause.occurred_at - self.rotated_at <= REFRESH_GRACE
        )
        if in_grace:
            return RefreshResult.GRACE
        self._record(
            RefreshTokenReused,
            cause,
            user_id=self.user_id,
            presented_jti=presented_jti,
            ip=ip,
            user_agent=user_agent,
        )
        self._record(SessionRevoked, cause, user_id=self.user_id, reason="refresh_token_reuse")
        return RefreshResult.REUSED

    def revoke(self, cause: Cause, *, reason: Literal["logout", "account_closed"]) -> None:
        if self.version and not self.revoked:
            self._record(SessionRevoked, cause, user_id=self.user_id, reason=reason)

    @applies(SessionStarted)
    def _started(self, event: SessionStarted) -> None:
        self.user_id, self.refresh_jti = event.user_id, event.refresh_jti

    @applies(RefreshTokenRotated)
    def _rotated(self, event: RefreshTokenRotated) -> None:
        self.previous_jti, self.refresh_jti = self.refresh_jti, event.refresh_jti
        self.rotated_at = event.meta.occurred_at

    @applies(RefreshTokenReused)
    def _reused(self, event: RefreshTokenReused) -> None:
        pass

    @applies(SessionRevoked)
    def _revoked(self, event: SessionRevoked) -> None:
        self.revoked = True

"""Identity: accounts and how people sign in.

An account's id is chosen by the command layer (derived from the e-mail address with a secret
pepper), so two concurrent first logins with one address collide on version 1 of the same
aggregate instead of creating two accounts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domain.aggregate import Aggregate, Cause, applies
from domain.errors import Conflict, RuleViolation
from domain.events import DomainEvent

Provider = Literal["dev", "password", "google", "naver"]


class AccountRegistered(DomainEvent):
    topic = "identity.AccountRegistered"

    email: str = Field(max_length=320)
    name: str = Field(max_length=100)
    provider: Provider


class LoggedIn(DomainEvent):
    """One successful sign-in; the start of a refresh-token family."""

    topic = "identity.LoggedIn"

    provider: Provider
    session_id: str = Field(max_length=64)


class AccountDeactivated(DomainEvent):
    topic = "identity.AccountDeactivated"

    reason: str = Field(max_length=200)


class Account(Aggregate):
    email: str
    name: str
    active: bool

    def register(self, cause: Cause, *, email: str, name: str, provider: Provider) -> None:
        if self.version:
            raise Conflict("account already exists", code="ACCOUNT_EXISTS")
        self._record(AccountRegistered, cause, email=email, name=name, provider=provider)

    def log_in(self, cause: Cause, *, provider: Provider, session_id: str) -> None:
        if not self.version:
            raise RuleViolation("no such account", code="ACCOUNT_NOT_FOUND")
        if not self.active:
            raise RuleViolation("account is deactivated", code="ACCOUNT_DEACTIVATED")
        self._record(LoggedIn, cause, provider=provider, session_id=session_id)

    def deactivate(self, cause: Cause, *, reason: str) -> None:
        if self.version and self.active:
            self._record(AccountDeactivated, cause, reason=reason)

    @applies(AccountRegistered)
    def _registered(self, event: AccountRegistered) -> None:
        self.email, self.name, self.active = event.email, event.name, True

    @applies(LoggedIn)
    def _logged_in(self, event: LoggedIn) -> None:
        pass

    @applies(AccountDeactivated)
    def _deactivated(self, event: AccountDeactivated) -> None:
        self.active = False

"""Identity read models: accounts, sign-in sessions and the login history.

A deleted account disappears from all three (its events stay, with personal fields erased).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypedDict

import sqlalchemy as sa

from domain.identity import (
    AccountDeactivated,
    AccountDeleted,
    AccountRegistered,
    LoggedIn,
    LoginFailed,
    RefreshTokenReused,
    RefreshTokenRotated,
    RoleGranted,
    RoleRevoked,
    SessionRevoked,
    SessionStarted,
    TwoFactorDisabled,
    TwoFactorEnabled,
)
from eventflow.buffer import ProjectionTx
from eventflow.projection import Projection
from eventflow.queries import first_row, rows_of, rows_where
from eventflow.readmodels import ReadModels

accounts = Projection("accounts")


class AccountRow(TypedDict):
    """An ``accounts`` row."""

    user_id: str
    email: str
    name: str
    provider: str
    active: bool
    registered_at: datetime
    last_login_at: datetime | None
    login_count: int
    two_factor: bool
    admin: bool


class LoginRow(TypedDict):
    """A ``login_history`` row: one sign-in, or one failed attempt."""

    event_id: str
    user_id: str
    at: datetime
    outcome: str
    provider: str | None
    ip: str
    user_agent: str
    suspicious: bool
    suspicious_reason: str | None


@accounts.tables
def _tables(metadata: sa.MetaData, name: Callable[[str], str]) -> None:
    sa.Table(
        name("accounts"),
        metadata,
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("login_count", sa.Integer, nullable=False),
        sa.Column("two_factor", sa.Boolean, nullable=False, default=False),
        sa.Column("admin", sa.Boolean, nullable=False, default=False),
    )
    sa.Table(
        name("auth_sessions"),
        metadata,
        sa.Column("session_id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(36), nullable=False, index=True),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(40), nullable=True),
    )
    sa.Table(
        name("login_history"),
        metadata,
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), nullable=False, index=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("provider", sa.String(20), nullable=True),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(512), nullable=False),
        sa.Column("suspicious", sa.Boolean, nullable=False),
        sa.Column("suspicious_reason", sa.String(40), nullable=True),
    )


@accounts.on(AccountRegistered)
def _registered(event: AccountRegistered, tx: ProjectionTx) -> None:
    tx.upsert(
        "accounts",
        {
            "user_id": str(event.aggregate_id),
            "email": event.email,
            "name": event.name,
            "provider": event.provider,
            "active": True,
            "registered_at": event.meta.occurred_at,
            "last_login_at": None,
            "login_count": 0,
            "two_factor": False,
            "admin": False,
        },
        key=["user_id"],
    )


@accounts.on(RoleGranted, RoleRevoked)
def _role(event: RoleGranted | RoleRevoked, tx: ProjectionTx) -> None:
    granted = isinstance(event, RoleGranted)
    tx.update("accounts", {"user_id": str(event.aggregate_id)}, {"admin": granted})


def _history(
    tx: ProjectionTx,
    event: Any,
    user_id: str,
    outcome: str,
    *,
    provider: str | None,
    reason: str | None,
) -> None:
    tx.insert(
        "login_history",
        {
            "event_id": str(event.meta.event_id),
            "user_id": user_id,
            "at": event.meta.occurred_at,
            "outcome": outcome,
            "provider": provider,
            "ip": event.ip,
            "user_agent": event.user_agent,
            "suspicious": reason is not None,
            "suspicious_reason": reason,
        },
    )


@accounts.on(LoggedIn)
def _logged_in(event: LoggedIn, tx: ProjectionTx) -> None:
    user_id = str(event.aggregate_id)
    table = tx.table("accounts")
    tx.execute(
        table.update()
        .where(table.c.user_id == user_id)
        .values(last_login_at=event.meta.occurred_at, login_count=table.c.login_count + 1)
    )
    history = tx.table("login_history")
    seen = tx.execute(
        sa.select(history.c.ip).where(history.c.user_id == user_id, history.c.outcome == "success")
    ).scalars()
    known_ips = set(seen)
    new_ip = bool(known_ips) and event.ip not in known_ips
    reason = "NEW_IP_ADDRESS" if new_ip else None
    _history(tx, event, user_id, "success", provider=event.provider, reason=reason)


@accounts.on(LoginFailed)
def _login_failed(event: LoginFailed, tx: ProjectionTx) -> None:
    _history(tx, event, str(event.aggregate_id), "failure", provider="password", reason=None)


@accounts.on(SessionStarted)
def _session_started(event: SessionStarted, tx: ProjectionTx) -> None:
    tx.insert(
        "auth_sessions",
        {
            "session_id": event.aggregate_id.hex,
            "user_id": event.user_id,
            "provider": event.provider,
            "started_at": event.meta.occurred_at,
            "refreshed_at": None,
            "revoked_at": None,
            "revoke_reason": None,
        },
    )


@accounts.on(RefreshTokenRotated)
def _rotated(event: RefreshTokenRotated, tx: ProjectionTx) -> None:
    tx.update(
        "auth_sessions",
        {"session_id": event.aggregate_id.hex},
        {"refreshed_at": event.meta.occurred_at},
    )


@accounts.on(RefreshTokenReused)
def _reused(event: RefreshTokenReused, tx: ProjectionTx) -> None:
    _history(tx, event, event.user_id, "token_reuse", provider=None, reason="REFRESH_TOKEN_REUSE")


@accounts.on(SessionRevoked)
def _revoked(event: SessionRevoked, tx: ProjectionTx) -> None:
    tx.update(
        "auth_sessions",
        {"session_id": event.aggregate_id.hex},
        {"revoked_at": event.meta.occurred_at, "revoke_reason": event.reason},
    )


@accounts.on(TwoFactorEnabled, TwoFactorDisabled)
def _two_factor(event: TwoFactorEnabled | TwoFactorDisabled, tx: ProjectionTx) -> None:
    enabled = isinstance(event, TwoFactorEnabled)
    tx.update("accounts", {"user_id": str(event.aggregate_id)}, {"two_factor": enabled})


@accounts.on(AccountDeactivated)
def _deactivated(event: AccountDeactivated, tx: ProjectionTx) -> None:
    tx.update("accounts", {"user_id": str(event.aggregate_id)}, {"active": False})


@accounts.on(AccountDeleted)
def _deleted(event: AccountDeleted, tx: ProjectionTx) -> None:
    user_id = str(event.aggregate_id)
    for table in ("accounts", "auth_sessions", "login_history"):
        tx.delete(table, {"user_id": user_id})


def is_admin(read_models: ReadModels, user_id: str) -> bool:
    account = get_account(read_models, user_id)
    return bool(account and account["admin"] and account["active"])


def get_account(read_models: ReadModels, user_id: str) -> AccountRow | None:
    table = read_models.table(accounts, "accounts")
    return first_row(read_models, sa.select(table).where(table.c.user_id == user_id), AccountRow)


def login_history(read_models: ReadModels, user_id: str, limit: int = 50) -> list[LoginRow]:
    table = read_models.table(accounts, "login_history")
    query = sa.select(table).where(table.c.user_id == user_id).order_by(table.c.at.desc())
    return rows_of(read_models, query.limit(limit), LoginRow)


def get_accounts(read_models: ReadModels, user_ids: list[str]) -> dict[str, AccountRow]:
    table = read_models.table(accounts, "accounts")
    return rows_where(read_models, table, "user_id", user_ids, AccountRow)

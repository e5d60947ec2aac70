"""Identity read model: one row per account, for names, sign-in facts and admin views."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from domain.identity import AccountDeactivated, AccountRegistered, LoggedIn
from projections.engine import Projection, ProjectionTx, ReadModels

accounts = Projection("accounts")


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
        },
        key=["user_id"],
    )


@accounts.on(LoggedIn)
def _logged_in(event: LoggedIn, tx: ProjectionTx) -> None:
    table = tx.table("accounts")
    tx.execute(
        table.update()
        .where(table.c.user_id == str(event.aggregate_id))
        .values(last_login_at=event.meta.occurred_at, login_count=table.c.login_count + 1)
    )


@accounts.on(AccountDeactivated)
def _deactivated(event: AccountDeactivated, tx: ProjectionTx) -> None:
    tx.update("accounts", {"user_id": str(event.aggregate_id)}, {"active": False})


def get_account(read_models: ReadModels, user_id: str) -> dict[str, Any] | None:
    table = read_models.table(accounts, "accounts")
    with read_models.engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.user_id == user_id)).first()
    return dict(row._mapping) if row else None

"""Achievement read model: each user's progress, unlock and claim per achievement.

Only achievements with progress have a row; the API lays the rows over the shipped
definitions, so an achievement nobody has started reads as zero without any set-up step.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypedDict

import sqlalchemy as sa

from domain.achievements import (
    AchievementProgressed,
    AchievementRewardClaimed,
    AchievementUnlocked,
)
from domain.identity import AccountDeleted
from eventflow.buffer import ProjectionTx
from eventflow.projection import Projection
from eventflow.queries import rows_of
from eventflow.readmodels import ReadModels

achievements = Projection("achievements")


class AchievementRow(TypedDict):
    """A ``user_achievements`` row: one user's progress on one achievement."""

    user_id: str
    key: str
    progress: int
    completed_at: datetime | None
    claimed_at: datetime | None


@achievements.tables
def _tables(metadata: sa.MetaData, name: Callable[[str], str]) -> None:
    sa.Table(
        name("user_achievements"),
        metadata,
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("progress", sa.Integer, nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
    )


@achievements.on(AchievementProgressed)
def _progressed(e: AchievementProgressed, tx: ProjectionTx) -> None:
    tx.upsert("user_achievements", {"user_id": e.user_id, "key": e.key, "progress": e.current},
              key=["user_id", "key"])  # fmt: skip


@achievements.on(AchievementUnlocked)
def _unlocked(e: AchievementUnlocked, tx: ProjectionTx) -> None:
    where = {"user_id": e.user_id, "key": e.key}
    tx.update("user_achievements", where, {"completed_at": e.meta.occurred_at})


@achievements.on(AchievementRewardClaimed)
def _claimed(e: AchievementRewardClaimed, tx: ProjectionTx) -> None:
    where = {"user_id": e.user_id, "key": e.key}
    tx.update("user_achievements", where, {"claimed_at": e.meta.occurred_at})


@achievements.on(AccountDeleted)
def _account_deleted(e: AccountDeleted, tx: ProjectionTx) -> None:
    tx.delete("user_achievements", {"user_id": str(e.aggregate_id)})


def progress_of(read_models: ReadModels, user_id: str) -> dict[str, AchievementRow]:
    """The user's rows by achievement key; times in UTC."""
    table = read_models.table(achievements, "user_achievements")
    query = sa.select(table).where(table.c.user_id == user_id)
    return {r["key"]: r for r in rows_of(read_models, query, AchievementRow, zoned=True)}

"""Achievement read model: each user's progress, unlock and claim per achievement.

Only achievements with progress have a row; the API lays the rows over the shipped
definitions, so an achievement nobody has started reads as zero without any set-up step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from domain.achievements import (
    AchievementProgressed,
    AchievementRewardClaimed,
    AchievementUnlocked,
)
from domain.identity import AccountDeleted
from eventflow.buffer import ProjectionTx
from eventflow.projection import Projection
from eventflow.readmodels import ReadModels
from projections.analytics import utc

achievements = Projection("achievements")


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


def progress_of(read_models: ReadModels, user_id: str) -> dict[str, dict[str, Any]]:
    """The user's rows by achievement key; times in UTC."""
    table = read_models.table(achievements, "user_achievements")
    with read_models.engine.connect() as conn:
        rows = conn.execute(sa.select(table).where(table.c.user_id == user_id)).all()
    return {r.key: {k: utc(v) for k, v in r._mapping.items()} for r in rows}

"""Achievements as the SPA reads them: a definition, and the user's progress on each (used
by the achievements routes and by the analytics that count them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.achievement_catalog import DEFINITIONS, Definition
from domain.achievements import user_achievement_id
from domain.reference import Lang
from eventflow.readmodels import ReadModels
from projections import achievements as rm


def definition_view(d: Definition, lang: Lang) -> dict[str, Any]:
    title = d.title.get(lang)
    return {"id": d.key, "key": d.key, "title": title, "name": title,
            "description": d.description.get(lang), "category": d.category, "type": d.kind,
            "tier": d.tier, "targetValue": d.target, "targetUnit": d.unit, "xpReward": d.xp,
            "badgeColor": d.badge_color}  # fmt: skip


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def achievement_item(
    d: Definition, row: rm.AchievementRow | None, user_id: str, lang: Lang
) -> dict[str, Any]:
    row = row or rm.AchievementRow(user_id=user_id, key=d.key, progress=0, completed_at=None,
                                   claimed_at=None)  # fmt: skip
    return {"id": user_achievement_id(user_id, d.key), "achievementKey": d.key,
            "achievement": definition_view(d, lang), "currentProgress": row["progress"],
            "targetValue": d.target,
            "progressPercentage": round(100 * row["progress"] / d.target, 1),
            "isCompleted": row["completed_at"] is not None,
            "completedAt": _time(row["completed_at"]),
            "isRewardClaimed": row["claimed_at"] is not None,
            "rewardClaimedAt": _time(row["claimed_at"])}  # fmt: skip


def items_of(read_models: ReadModels, user_id: str, lang: Lang) -> list[dict[str, Any]]:
    """Every achievement with the user's progress on it, in catalogue order."""
    rows = rm.progress_of(read_models, user_id)
    return [achievement_item(d, rows.get(d.key), user_id, lang) for d in DEFINITIONS]

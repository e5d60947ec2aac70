"""Achievements (contract 4.12): the definitions, the caller's progress and statistics, and
claiming an unlocked achievement's reward.

Progress is derived on the server from what the caller did (``commands/achievements.py``).
The original let clients report progress (``POST /progress``, ``/progress/increment``,
``/initialize``, ``/check-completion``), so anyone could award themselves anything; those
routes answer 410 ``ACHIEVEMENT_PROGRESS_IS_DERIVED`` and change nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NoReturn

from fastapi import APIRouter

from api.deps import CallerDep, ReadModelsDep, UserContext, WritesDep
from api.envelope import ok
from api.errors import ApiError
from api.i18n import UserLang
from api.openapi import error_responses
from api.views.achievements import achievement_item, definition_view, items_of
from commands import achievements as cmd
from domain.achievement_catalog import BY_KEY, CATEGORIES, DEFINITIONS
from domain.achievements import achievements_id, user_achievement_id
from projections import achievements as rm

router = APIRouter(prefix="/api/v1/achievements", tags=["achievements"])
NEAR_COMPLETION = 80.0
"""Percent from which an unfinished achievement is listed as nearly done."""


def _xp_earned(items: list[dict[str, Any]]) -> int:
    """XP counts once the reward is claimed."""
    return sum(i["achievement"]["xpReward"] for i in items if i["isRewardClaimed"])


@router.get("")
def definitions(caller: CallerDep, lang: UserLang) -> dict[str, Any]:
    return ok([definition_view(d, lang) for d in DEFINITIONS])


@router.get("/category/{category}")
def by_category(category: str, caller: CallerDep, lang: UserLang) -> dict[str, Any]:
    wanted = category.upper()
    if wanted not in CATEGORIES:
        raise ApiError(422, f"categories are {', '.join(CATEGORIES)}", "UNKNOWN_CATEGORY")
    return ok([definition_view(d, lang) for d in DEFINITIONS if d.category == wanted])


@router.get("/my")
def mine(caller: CallerDep, read_models: ReadModelsDep, lang: UserLang) -> dict[str, Any]:
    items = items_of(read_models, caller.user_id, lang)
    body = ok(items)
    body["totalPoints"] = _xp_earned(items)
    return body


@router.get("/my/completed")
def completed(caller: CallerDep, read_models: ReadModelsDep, lang: UserLang) -> dict[str, Any]:
    return ok([i for i in items_of(read_models, caller.user_id, lang) if i["isCompleted"]])


@router.get("/my/in-progress")
def in_progress(caller: CallerDep, read_models: ReadModelsDep, lang: UserLang) -> dict[str, Any]:
    items = items_of(read_models, caller.user_id, lang)
    return ok([i for i in items if i["currentProgress"] > 0 and not i["isCompleted"]])


def _counts(items: list[dict[str, Any]], field: str) -> dict[str, dict[str, int]]:
    total = Counter(i["achievement"][field] for i in items)
    done = Counter(i["achievement"][field] for i in items if i["isCompleted"])
    return {name: {"total": count, "completed": done[name]} for name, count in total.items()}


@router.get("/my/stats")
def stats(caller: CallerDep, read_models: ReadModelsDep, lang: UserLang) -> dict[str, Any]:
    items = items_of(read_models, caller.user_id, lang)
    done = [i for i in items if i["isCompleted"]]
    recent = sorted(done, key=lambda i: i["completedAt"], reverse=True)[:5]
    near = sorted((i for i in items if not i["isCompleted"]
                   and i["progressPercentage"] >= NEAR_COMPLETION),
                  key=lambda i: -i["progressPercentage"])[:5]  # fmt: skip
    return ok({
        "totalAchievements": len(items),
        "completedAchievements": len(done),
        "inProgressAchievements": sum(1 for i in items
                                      if i["currentProgress"] > 0 and not i["isCompleted"]),
        "totalXpEarned": _xp_earned(items),
        "unclaimedRewards": sum(1 for i in done if not i["isRewardClaimed"]),
        "completionRate": round(100 * len(done) / len(items), 1),
        "achievementsByCategory": _counts(items, "category"),
        "achievementsByTier": _counts(items, "tier"),
        "recentCompletions": [
            {"id": i["id"], "achievementKey": i["achievementKey"],
             "achievementTitle": i["achievement"]["title"], "completedAt": i["completedAt"],
             "tier": i["achievement"]["tier"], "xpReward": i["achievement"]["xpReward"]}
            for i in recent],
        "nearCompletion": near,
    })  # fmt: skip


@router.post("/{achievement_id}/claim-reward")
def claim_reward(
    achievement_id: str,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    read_models: ReadModelsDep,
    lang: UserLang,
) -> dict[str, Any]:
    """Owner only: an id that is not one of the caller's achievements reads as missing."""
    key = next((d.key for d in DEFINITIONS
                if user_achievement_id(caller.user_id, d.key) == achievement_id), None)  # fmt: skip
    if key is None:
        raise ApiError(404, "no such achievement", "ACHIEVEMENT_NOT_FOUND")
    outcome = cmd.claim_reward(writes.bus, ctx, user_id=caller.user_id, key=key)
    writes.services.wait_applied(rm.achievements, outcome, achievements_id(caller.user_id))
    row = rm.progress_of(read_models, caller.user_id).get(key)
    return ok(achievement_item(BY_KEY[key], row, caller.user_id, lang))


def _derived_on_the_server(caller: CallerDep) -> NoReturn:
    message = "achievement progress is derived from your activity; this route changes nothing"
    raise ApiError(410, message, "ACHIEVEMENT_PROGRESS_IS_DERIVED")


for _path in ("/progress", "/progress/increment", "/initialize", "/check-completion"):
    router.add_api_route(_path, _derived_on_the_server, methods=["POST"], status_code=410,
                         response_model=None, summary="Refused (410): progress is server-derived",
                         responses=error_responses(410),
                         name=f"achievements_refused{_path.replace('/', '_')}")  # fmt: skip

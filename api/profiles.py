"""Profiles as the SPA reads them: one's own, another learner's public one, and the
parts the matching pages ask for (spa-contract 4.2); one's own basics edited at once."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter

from api.deps import CallerDep, OriginDep, PresenceDep, ReadModelsDep, UserContext, WritesDep
from api.envelope import ok
from api.errors import ApiError
from api.i18n import UserLang
from api.schemas import profiles as body
from api.views.profiles import language_info, own_profile, public_profile, save, visible_row
from commands import profiles as cmd
from domain import reference as ref

router = APIRouter(prefix="/api/v1", tags=["profiles"])


@router.get("/users/info")
def get_user_info(
    caller: CallerDep, read_models: ReadModelsDep, presence: PresenceDep, origin: OriginDep,
    lang: UserLang,
) -> dict[str, Any]:  # fmt: skip
    return ok(own_profile(read_models, presence, origin, caller.user_id, lang))


@router.get("/users/profile")
def get_my_profile(
    caller: CallerDep, read_models: ReadModelsDep, presence: PresenceDep, origin: OriginDep,
    lang: UserLang,
) -> dict[str, Any]:  # fmt: skip
    return ok(own_profile(read_models, presence, origin, caller.user_id, lang))


@router.get("/users/complete-profile")
def get_complete_profile(
    caller: CallerDep, read_models: ReadModelsDep, presence: PresenceDep, origin: OriginDep,
    lang: UserLang,
) -> dict[str, Any]:  # fmt: skip
    return ok(own_profile(read_models, presence, origin, caller.user_id, lang))


@router.put("/users/complete-profile")
def put_complete_profile(
    update: body.ProfileUpdate, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    bio = next((b for b in (update.self_bio, update.intro, update.bio) if b is not None), None)
    where = update.residence if update.residence is not None else update.location
    command = cmd.UpdateProfile(user_id=caller.user_id,
                                english_name=update.english_name or update.name, bio=bio,
                                location_id=body.location_id(where))  # fmt: skip
    return save(writes, ctx, cmd.update_profile, command)


@router.get("/users/language-info")
def get_my_language_info(
    caller: CallerDep, read_models: ReadModelsDep, lang: UserLang
) -> dict[str, Any]:
    return ok(language_info(read_models, caller.user_id, lang))


@router.get("/users/{user_id}/language-info")
def get_language_info(
    user_id: UUID, _: CallerDep, read_models: ReadModelsDep, lang: UserLang
) -> dict[str, Any]:
    return ok(language_info(read_models, str(user_id), lang))


@router.get("/users/{user_id}/motivation-info")
def get_motivation_info(
    user_id: UUID, _: CallerDep, read_models: ReadModelsDep, lang: UserLang
) -> dict[str, Any]:
    row = visible_row(read_models, str(user_id))

    def named(catalog: Any, ids: list[int] | None) -> list[dict[str, Any]]:
        items = [ref.entry(catalog, i) for i in ids or []]
        return [
            {"id": i.id, "name": ref.label(i, lang), "priority": n + 1}
            for n, i in enumerate(items)
            if i
        ]

    return ok(
        {
            "motivations": named("motivations", row.get("motivations")),
            "topics": named("topics", row.get("topics")),
            "learningStyles": named("learning_styles", row.get("learning_styles")),
            "learningExpectations": named(
                "learning_expectations", row.get("learning_expectations")
            ),
        }
    )


@router.get("/users/{user_id}/schedule-info")
def get_schedule_info(user_id: UUID, _: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    row = visible_row(read_models, str(user_id))
    schedules = [
        {"dayOfWeek": s["day_of_week"], "classTime": s["class_time"]}
        for s in row.get("schedules") or []
    ]
    return ok(
        {
            "schedules": schedules,
            "communicationMethod": row.get("communication_method"),
            "dailyMinutes": row.get("daily_minutes"),
            "groupSizeIds": row.get("group_sizes") or [],
        }
    )


@router.get("/users/{user_id}/profile")
def get_user_profile(
    user_id: UUID, _: CallerDep, read_models: ReadModelsDep, presence: PresenceDep,
    origin: OriginDep, lang: UserLang,
) -> dict[str, Any]:  # fmt: skip
    profile = public_profile(read_models, presence, origin, str(user_id), lang)
    if profile is None:
        raise ApiError(404, "사용자를 찾을 수 없습니다 (user not found)", "USER_NOT_FOUND")
    return ok(profile)


@router.get("/onboarding/{user_id}/summary")
def get_onboarding_summary(
    user_id: UUID, _: CallerDep, read_models: ReadModelsDep, lang: UserLang
) -> dict[str, Any]:
    row = visible_row(read_models, str(user_id))
    return ok(
        {
            **language_info(read_models, str(user_id), lang),
            "onboardingCompleted": bool(row.get("onboarding_completed")),
        }
    )

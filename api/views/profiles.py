"""Profile views: what the SPA reads of a learner (own and public), their onboarding
status, and the URLs of their files."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, TypeVar

from api.deps import Writes
from api.envelope import ok
from api.errors import ApiError
from api.views.files import file_url
from commands.base import CommandContext, Handler
from commands.profiles import ProfileCommand
from domain import reference as ref
from domain.profiles import STEPS, profile_id
from domain.settings import SETTINGS_MODELS
from eventflow.readmodels import ReadModels
from infra.presence import Presence
from projections.identity import get_account
from projections.profiles import ProfileRow, blank_profile, get_profile, profiles, settings_of

ITEM_COLUMNS = {
    "englishName": "english_name",
    "location": "location_id",
    "nativeLanguage": "native_language_id",
    "targetLanguages": "target_languages",
    "motivations": "motivations",
    "topics": "topics",
    "partnerGender": "partner_gender",
    "partnerPersonalities": "partner_personalities",
    "communicationMethod": "communication_method",
    "groupSizes": "group_sizes",
    "dailyMinutes": "daily_minutes",
    "schedules": "schedules",
}
"""Each onboarding item (``domain.profiles.STEPS``) and the read-model column holding it."""
P = TypeVar("P", bound=ProfileCommand)


def onboarding_status(row: ProfileRow | None) -> dict[str, Any]:
    """Until onboarding is completed the status says step 1: the SPA maps ``nextStep``
    (else ``currentStep + 1``) only to ``/onboarding-info/{n}``, the pages of the first
    step, so any other number would send the learner to an unrelated page (contract 9.2).
    What is done and what is missing stay in ``steps`` and ``missing``."""
    columns: Mapping[str, object] = row or {}
    done = [all(columns.get(ITEM_COLUMNS[item]) for item in items) for _, items in STEPS]
    completed = bool(columns.get("onboarding_completed"))
    total = len(STEPS)
    return {
        "isCompleted": completed,
        "completed": completed,
        "currentStep": total if completed else 0,
        "nextStep": total if completed else 1,
        "totalSteps": total,
        "steps": [
            {"step": i + 1, "name": name, "done": d}
            for i, ((name, _), d) in enumerate(zip(STEPS, done, strict=True))
        ],
        "missing": [
            item for _, items in STEPS for item in items if not columns.get(ITEM_COLUMNS[item])
        ],
    }


def _language(language_id: int | None, lang: ref.Lang) -> dict[str, Any] | None:
    item = ref.language(language_id) if language_id is not None else None
    if item is None:
        return None
    name = ref.label(item, lang)
    return {"languageId": item.id, "languageName": name, "name": name, "code": item.code}


def _level_name(level_id: int, lang: ref.Lang) -> str | None:
    level = ref.level(level_id)
    return ref.label(level, lang) if level else None


def _assessed_level_id(cefr: str) -> int:
    """The language level (100-106) a level test's CEFR result stands for."""
    return next(level.id for level in ref.language_levels() if level.cefr == cefr)


def target_languages(row: ProfileRow, lang: ref.Lang) -> list[dict[str, Any]]:
    """Each target language with the learner's current level: the level test's result once
    one assessed that language (the README's promise; the SPA shows ``currentLevel`` and
    ``languageLevel`` as the learner's level), else the onboarding answer, which is always
    kept as ``selfReportedLevel*``."""
    assessed = row["assessed_levels"] or {}
    result = []
    for entry in row["target_languages"] or []:
        language = _language(entry["language_id"], lang) or {}
        reported, target = entry["current_level_id"], entry["target_level_id"]
        reported_level = ref.cefr_for_level(reported) or _level_name(reported, lang)
        tested = assessed.get(str(entry["language_id"]))
        current = _assessed_level_id(tested) if tested else reported
        result.append(
            {
                **language,
                "currentLevelId": current,
                "currentLevel": tested or reported_level,
                "currentLevelName": _level_name(current, lang),
                "assessedLevel": tested,
                "selfReportedLevelId": reported,
                "selfReportedLevel": reported_level,
                "selfReportedLevelName": _level_name(reported, lang),
                "targetLevelId": target,
                "targetLevel": ref.cefr_for_level(target) or _level_name(target, lang),
                "targetLevelName": _level_name(target, lang),
            }
        )
    return result


def _location(row: ProfileRow, lang: ref.Lang) -> dict[str, Any] | None:
    location = ref.location(row["location_id"]) if row["location_id"] else None
    if location is None:
        return None
    return {
        "locationId": location.id,
        "city": location.city.get(lang),
        "country": location.country.get(lang),
        "region": location.country.get(lang),
        "timeZone": location.timezone,
        "timezone": location.timezone,
    }


def public_profile(
    read_models: ReadModels, presence: Presence, origin: str, user_id: str, lang: ref.Lang
) -> dict[str, Any] | None:
    """What any signed-in user may see of another user (no e-mail, no birthday)."""
    account = get_account(read_models, user_id)
    if account is None or not account["active"]:
        return None
    row = get_profile(read_models, user_id) or blank_profile(user_id)
    location = _location(row, lang)
    targets = target_languages(row, lang)
    image = file_url(origin, row["image_key"])
    online = presence.of([user_id], time.time())[user_id]
    return {
        "id": user_id,
        "userId": user_id,
        "name": account["name"],
        "englishName": row["english_name"] or account["name"],
        "profileImageUrl": image,
        "profileImage": image,
        "location": location,
        "residence": location["city"] if location else None,
        "nativeLanguage": _language(row["native_language_id"], lang),
        "targetLanguages": targets,
        "targetLanguage": targets[0]["languageName"] if targets else None,
        "languageLevel": targets[0]["currentLevel"] if targets else None,
        "selfBio": row["bio"] or "",
        "bio": row["bio"] or "",
        "gender": row["gender"],
        "birthYear": int(row["birth_year"]) if row["birth_year"] else None,
        "onlineStatus": online["status"],
        "lastActiveTime": online["lastSeen"],
    }


def own_profile(
    read_models: ReadModels, presence: Presence, origin: str, user_id: str, lang: ref.Lang
) -> dict[str, Any]:
    profile = public_profile(read_models, presence, origin, user_id, lang)
    if profile is None:
        raise ApiError(404, "사용자를 찾을 수 없습니다 (user not found)", "USER_NOT_FOUND")
    account = get_account(read_models, user_id)
    row = get_profile(read_models, user_id)
    return {
        **profile,
        "email": account["email"] if account else None,
        "birthday": row["birthday"] if row else None,
        "koreanName": account["name"] if account else None,
    }


def visible_row(read_models: ReadModels, user_id: str) -> ProfileRow:
    account = get_account(read_models, user_id)
    if account is None or not account["active"]:
        raise ApiError(404, "사용자를 찾을 수 없습니다 (user not found)", "USER_NOT_FOUND")
    return get_profile(read_models, user_id) or blank_profile(user_id)


def language_info(read_models: ReadModels, user_id: str, lang: ref.Lang) -> dict[str, Any]:
    row = visible_row(read_models, user_id)
    return {
        "nativeLanguage": _language(row["native_language_id"], lang),
        "targetLanguages": target_languages(row, lang),
    }


def section_values(read_models: ReadModels, user_id: str, section: str) -> dict[str, Any]:
    """A settings section with defaults filled in, as the settings pages read it."""
    return settings_of(read_models, user_id, SETTINGS_MODELS[section]).model_dump()


def save(writes: Writes, ctx: CommandContext, handler: Handler[P], command: P) -> dict[str, Any]:
    """Run a profile command and answer once the profiles read model shows it: the SPA
    moves to the next onboarding page as soon as a save returns, and that page reads at
    once."""
    writes.issue(handler, ctx, command, visible_in=profiles, key=profile_id(command.user_id))
    return ok({"saved": True})

"""Profile, onboarding and settings routes (spa-contract 4.2, 4.3, 4.7, 4.13).

Writes go through ``commands.profiles.change_profile`` and wait (bounded) until the profiles
projection shows them, because the SPA navigates to the next onboarding page as soon as a
save returns and that page reads the status at once. Reads come from the projection only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from api.catalogs import catalog_items
from api.deps import CallerDep, RuntimeDep, UserContext
from api.envelope import ok
from api.errors import ApiError
from api.i18n import UserLang
from api.openapi import error_responses
from api.services import Services
from commands import profiles as cmd
from commands.base import CommandContext, Outcome
from domain import reference as ref
from domain.errors import RuleViolation
from domain.profiles import STEPS, Profile, profile_id
from domain.settings import SETTINGS_MODELS
from infra.blobs import BlobNotFound, InvalidBlobKey
from infra.media.images import ImageRejected, process_profile_image
from projections.identity import get_account, login_history
from projections.profiles import get_profile, image_path, profiles, settings_of

router = APIRouter(prefix="/api/v1", tags=["profiles"])
CHAT_AUDIO_PREFIX = "chat-audio/"
CHAT_IMAGE_PREFIX = "chat-images/"
PUBLIC_BLOB_PREFIXES = ("profile-images/", CHAT_AUDIO_PREFIX, CHAT_IMAGE_PREFIX)
"""Blobs served without authentication (``<img src>`` sends no token); everything else
(voice answers, exports) stays private."""

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


def _save(
    rt: Services, ctx: CommandContext, user_id: str, name: str, change: cmd.Change
) -> dict[str, Any]:
    outcome: Outcome = cmd.change_profile(rt.bus, ctx, user_id, name, change)
    rt.wait_applied(profiles, outcome, profile_id(user_id))
    return ok({"saved": True})


# -- onboarding writes ------------------------------------------------------------------
@router.post("/onboarding/steps/1/save")
def save_step_one(
    body: cmd.SaveStep, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    data = body.step_data
    location = cmd.location_id(data.residence)

    def change(profile: Profile, cause: Any) -> None:
        profile.set_english_name(cause, data.english_name)
        if location is not None:
            profile.set_residence(cause, location)
        if data.intro is not None:
            profile.set_bio(cause, data.intro)

    return _save(rt, ctx, caller.user_id, "SaveStepOne", change)


@router.post("/users/location")
def post_location(
    body: cmd.Location, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    return _save(
        rt, ctx, caller.user_id, "SetResidence", lambda p, c: p.set_residence(c, body.location_id)
    )


@router.post("/users/self-bio")
def post_self_bio(
    body: cmd.SelfBio, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    return _save(rt, ctx, caller.user_id, "SetBio", lambda p, c: p.set_bio(c, body.self_bio))


@router.post("/users/gender")
def post_gender(
    body: cmd.Gender, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    return _save(
        rt, ctx, caller.user_id, "SetGender", lambda p, c: p.set_gender(c, body.gender_type)
    )


@router.post("/users/birthyear")
def post_birth_year(
    body: cmd.BirthYear, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    year = datetime.now(UTC).year
    return _save(
        rt,
        ctx,
        caller.user_id,
        "SetBirthYear",
        lambda p, c: p.set_birth_year(c, int(body.birthyear), year),
    )


@router.post("/users/birthday")
def post_birthday(
    body: cmd.Birthday, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    return _save(
        rt, ctx, caller.user_id, "SetBirthday", lambda p, c: p.set_birthday(c, body.birthday)
    )


@router.post("/onboarding/language/native-language")
def post_native_language(
    body: cmd.NativeLanguage, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    return _save(
        rt,
        ctx,
        caller.user_id,
        "SetNativeLanguage",
        lambda p, c: p.set_native_language(c, body.language_id),
    )


@router.post("/onboarding/language/language-level")
def post_language_levels(
    body: cmd.LanguageLevels, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    entries = cmd.target_languages(body)
    return _save(
        rt, ctx, caller.user_id, "SetLanguageLevels", lambda p, c: p.set_language_levels(c, entries)
    )


def _interests(kind: str, ids: list[int]) -> cmd.Change:
    return lambda profile, cause: profile.choose_interests(cause, kind, ids)


@router.post("/onboarding/interest/motivation")
def post_motivations(
    body: cmd.Motivations, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    return _save(
        rt, ctx, caller.user_id, "ChooseMotivations", _interests("motivations", body.motivation_ids)
    )


@router.post("/onboarding/interest/topic")
def post_topics(
    body: cmd.Topics, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    return _save(rt, ctx, caller.user_id, "ChooseTopics", _interests("topics", body.topic_ids))


@router.post("/onboarding/interest/learning-style")
def post_learning_styles(
    body: cmd.LearningStyles, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    change = _interests("learning_styles", body.learning_style_ids)
    return _save(rt, ctx, caller.user_id, "ChooseLearningStyles", change)


@router.post("/onboarding/interest/learning-expectation")
def post_learning_expectations(
    body: cmd.LearningExpectations, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    change = _interests("learning_expectations", body.learning_expectation_ids)
    return _save(rt, ctx, caller.user_id, "ChooseLearningExpectations", change)


@router.post("/onboarding/partner/gender")
def post_partner_gender(
    body: cmd.PartnerGender, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    change: cmd.Change = lambda p, c: p.prefer_partner(c, gender=body.partner_gender_type)  # noqa: E731
    return _save(rt, ctx, caller.user_id, "PreferPartnerGender", change)


@router.post("/onboarding/partner/personality")
def post_partner_personalities(
    body: cmd.PartnerPersonalities, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    ids = [choice.partner_personality_id for choice in body.personal_partner_ids]
    change: cmd.Change = lambda p, c: p.prefer_partner(c, personality_ids=ids)  # noqa: E731
    return _save(rt, ctx, caller.user_id, "PreferPartnerPersonalities", change)


@router.post("/onboarding/schedule/communication-method")
def post_communication_method(
    body: cmd.CommunicationMethod, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    method = body.communication_method_type
    change: cmd.Change = lambda p, c: p.prefer_study(c, communication_method=method)  # noqa: E731
    return _save(rt, ctx, caller.user_id, "ChooseCommunicationMethod", change)


@router.post("/onboarding/schedule/group-size")
def post_group_sizes(
    body: cmd.GroupSizes, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    change: cmd.Change = lambda p, c: p.prefer_study(c, group_size_ids=body.group_size_ids)  # noqa: E731
    return _save(rt, ctx, caller.user_id, "ChooseGroupSizes", change)


@router.post("/onboarding/schedule/daily-minute")
def post_daily_minutes(
    body: cmd.DailyMinutes, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    change: cmd.Change = lambda p, c: p.prefer_study(c, daily_minutes=str(body.daily_minutes_type))  # noqa: E731
    return _save(rt, ctx, caller.user_id, "ChooseDailyMinutes", change)


@router.post("/onboarding/schedule")
def post_schedule(
    body: cmd.Schedules, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    entries = cmd.schedule_entries(body)
    return _save(rt, ctx, caller.user_id, "SetSchedule", lambda p, c: p.set_schedule(c, entries))


@router.post("/users/complete-onboarding")
def post_complete_onboarding(
    caller: CallerDep, ctx: UserContext, rt: RuntimeDep, body: cmd.CompleteOnboarding | None = None
) -> dict[str, Any]:
    """422 ``ONBOARDING_INCOMPLETE`` names every missing item; nothing is recorded then."""
    _save(rt, ctx, caller.user_id, "CompleteOnboarding", lambda p, c: p.complete_onboarding(c))
    return ok(onboarding_status(get_profile(rt.read_models, caller.user_id)))


# -- onboarding reads -------------------------------------------------------------------
def onboarding_status(row: dict[str, Any] | None) -> dict[str, Any]:
    row = row or {}
    done = [all(row.get(ITEM_COLUMNS[item]) for item in items) for _, items in STEPS]
    leading = next((i for i, ok_ in enumerate(done) if not ok_), len(done))
    completed = bool(row.get("onboarding_completed"))
    total = len(STEPS)
    return {
        "isCompleted": completed,
        "completed": completed,
        "currentStep": total if completed else leading,
        "nextStep": total if completed else min(leading + 1, total),
        "totalSteps": total,
        "steps": [
            {"step": i + 1, "name": name, "done": d}
            for i, ((name, _), d) in enumerate(zip(STEPS, done, strict=True))
        ],
        "missing": [
            item for _, items in STEPS for item in items if not row.get(ITEM_COLUMNS[item])
        ],
    }


@router.get("/users/onboarding-status")
def get_onboarding_status(caller: CallerDep, rt: RuntimeDep) -> dict[str, Any]:
    return ok(onboarding_status(get_profile(rt.read_models, caller.user_id)), mirror=True)


@router.get("/onboarding/data")
def get_onboarding_data(caller: CallerDep, rt: RuntimeDep, lang: UserLang) -> dict[str, Any]:
    row = get_profile(rt.read_models, caller.user_id) or {}

    def options(catalog: Any) -> list[dict[str, Any]]:
        return [{"id": item["id"], "name": item["name"]} for item in catalog_items(catalog, lang)]

    return ok(
        {
            "userOnboardingData": {
                "nativeLanguageId": row.get("native_language_id"),
                "targetLanguages": _target_languages(row, lang),
                "motivationIds": row.get("motivations") or [],
                "topicIds": row.get("topics") or [],
                "learningStyleIds": row.get("learning_styles") or [],
                "learningExpectationIds": row.get("learning_expectations") or [],
            },
            "availableOptions": {
                "languages": options("languages"),
                "motivations": options("motivations"),
                "topics": options("topics"),
                "learningStyles": options("learning_styles"),
                "learningExpectations": options("learning_expectations"),
            },
        }
    )


# -- profile reads ----------------------------------------------------------------------
def file_url(rt: Services, request: Request, key: str | None, size: int = 512) -> str | None:
    if not key:
        return None
    origin = rt.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{origin}{image_path(key, size)}"


def _language(language_id: int | None, lang: ref.Lang) -> dict[str, Any] | None:
    item = ref.language(language_id) if language_id is not None else None
    if item is None:
        return None
    name = ref.label(item, lang)
    return {"languageId": item.id, "languageName": name, "name": name, "code": item.code}


def _level_name(level_id: int, lang: ref.Lang) -> str | None:
    level = ref.level(level_id)
    return ref.label(level, lang) if level else None


def _target_languages(row: dict[str, Any], lang: ref.Lang) -> list[dict[str, Any]]:
    result = []
    for entry in row.get("target_languages") or []:
        language = _language(entry["language_id"], lang) or {}
        current, target = entry["current_level_id"], entry["target_level_id"]
        cefr = ref.cefr_for_level(current)
        result.append(
            {
                **language,
                "currentLevelId": current,
                "currentLevel": cefr or _level_name(current, lang),
                "currentLevelName": _level_name(current, lang),
                "targetLevelId": target,
                "targetLevel": ref.cefr_for_level(target) or _level_name(target, lang),
                "targetLevelName": _level_name(target, lang),
            }
        )
    return result


def _location(row: dict[str, Any], lang: ref.Lang) -> dict[str, Any] | None:
    location = ref.location(row["location_id"]) if row.get("location_id") else None
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
    rt: Services, request: Request, user_id: str, lang: ref.Lang
) -> dict[str, Any] | None:
    """What any signed-in user may see of another user (no e-mail, no birthday)."""
    account = get_account(rt.read_models, user_id)
    if account is None or not account["active"]:
        return None
    row = get_profile(rt.read_models, user_id) or {"user_id": user_id}
    location = _location(row, lang)
    targets = _target_languages(row, lang)
    image = file_url(rt, request, row.get("image_key"))
    presence = rt.presence.of([user_id], time.time())[user_id]
    return {
        "id": user_id,
        "userId": user_id,
        "name": account["name"],
        "englishName": row.get("english_name") or account["name"],
        "profileImageUrl": image,
        "profileImage": image,
        "location": location,
        "residence": location["city"] if location else None,
        "nativeLanguage": _language(row.get("native_language_id"), lang),
        "targetLanguages": targets,
        "targetLanguage": targets[0]["languageName"] if targets else None,
        "languageLevel": targets[0]["currentLevel"] if targets else None,
        "selfBio": row.get("bio") or "",
        "bio": row.get("bio") or "",
        "gender": row.get("gender"),
        "birthYear": int(row["birth_year"]) if row.get("birth_year") else None,
        "onlineStatus": presence["status"],
        "lastActiveTime": presence["lastSeen"],
    }


def _own_profile(rt: Services, request: Request, user_id: str, lang: ref.Lang) -> dict[str, Any]:
    profile = public_profile(rt, request, user_id, lang)
    if profile is None:
        raise ApiError(404, "사용자를 찾을 수 없습니다 (user not found)", "USER_NOT_FOUND")
    account = get_account(rt.read_models, user_id) or {}
    row = get_profile(rt.read_models, user_id) or {}
    return {
        **profile,
        "email": account.get("email"),
        "birthday": row.get("birthday"),
        "koreanName": account.get("name"),
    }


@router.get("/users/info")
def get_user_info(
    caller: CallerDep, rt: RuntimeDep, request: Request, lang: UserLang
) -> dict[str, Any]:
    return ok(_own_profile(rt, request, caller.user_id, lang))


@router.get("/users/profile")
def get_my_profile(
    caller: CallerDep, rt: RuntimeDep, request: Request, lang: UserLang
) -> dict[str, Any]:
    return ok(_own_profile(rt, request, caller.user_id, lang))


@router.get("/users/complete-profile")
def get_complete_profile(
    caller: CallerDep, rt: RuntimeDep, request: Request, lang: UserLang
) -> dict[str, Any]:
    return ok(_own_profile(rt, request, caller.user_id, lang))


@router.put("/users/complete-profile")
def put_complete_profile(
    body: cmd.ProfileUpdate, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    name = body.english_name or body.name
    bio = next((b for b in (body.self_bio, body.intro, body.bio) if b is not None), None)
    location = cmd.location_id(body.residence if body.residence is not None else body.location)

    def change(profile: Profile, cause: Any) -> None:
        if name is not None:
            profile.set_english_name(cause, name)
        if bio is not None:
            profile.set_bio(cause, bio)
        if location is not None:
            profile.set_residence(cause, location)

    return _save(rt, ctx, caller.user_id, "UpdateProfile", change)


@router.get("/users/language-info")
def get_my_language_info(caller: CallerDep, rt: RuntimeDep, lang: UserLang) -> dict[str, Any]:
    return ok(_language_info(rt, caller.user_id, lang))


def _visible_row(rt: Services, user_id: str) -> dict[str, Any]:
    account = get_account(rt.read_models, user_id)
    if account is None or not account["active"]:
        raise ApiError(404, "사용자를 찾을 수 없습니다 (user not found)", "USER_NOT_FOUND")
    return get_profile(rt.read_models, user_id) or {}


def _language_info(rt: Services, user_id: str, lang: ref.Lang) -> dict[str, Any]:
    row = _visible_row(rt, user_id)
    return {
        "nativeLanguage": _language(row.get("native_language_id"), lang),
        "targetLanguages": _target_languages(row, lang),
    }


@router.get("/users/{user_id}/language-info")
def get_language_info(
    user_id: UUID, _: CallerDep, rt: RuntimeDep, lang: UserLang
) -> dict[str, Any]:
    return ok(_language_info(rt, str(user_id), lang))


@router.get("/users/{user_id}/motivation-info")
def get_motivation_info(
    user_id: UUID, _: CallerDep, rt: RuntimeDep, lang: UserLang
) -> dict[str, Any]:
    row = _visible_row(rt, str(user_id))

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
def get_schedule_info(user_id: UUID, _: CallerDep, rt: RuntimeDep) -> dict[str, Any]:
    row = _visible_row(rt, str(user_id))
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
    user_id: UUID, _: CallerDep, rt: RuntimeDep, request: Request, lang: UserLang
) -> dict[str, Any]:
    profile = public_profile(rt, request, str(user_id), lang)
    if profile is None:
        raise ApiError(404, "사용자를 찾을 수 없습니다 (user not found)", "USER_NOT_FOUND")
    return ok(profile)


@router.get("/onboarding/{user_id}/summary")
def get_onboarding_summary(
    user_id: UUID, _: CallerDep, rt: RuntimeDep, lang: UserLang
) -> dict[str, Any]:
    row = _visible_row(rt, str(user_id))
    return ok(
        {
            **_language_info(rt, str(user_id), lang),
            "onboardingCompleted": bool(row.get("onboarding_completed")),
        }
    )


# -- profile image and files ------------------------------------------------------------
MAX_IMAGE_BYTES = 10 * 1024 * 1024


@router.post("/users/me/profile-image", responses=error_responses(413))
async def post_profile_image(
    caller: CallerDep,
    ctx: UserContext,
    rt: RuntimeDep,
    request: Request,
    file: Annotated[UploadFile, File()],
) -> dict[str, Any]:
    """Re-encode to WebP in the sizes the SPA shows, metadata (GPS, camera) stripped."""
    data = await file.read(MAX_IMAGE_BYTES + 1)
    try:
        renditions = await run_in_threadpool(process_profile_image, data, max_bytes=MAX_IMAGE_BYTES)
    except ImageRejected as exc:
        status = 413 if exc.code == "IMAGE_TOO_LARGE" else 422
        raise ApiError(status, "이미지를 처리할 수 없습니다 (image rejected)", exc.code) from None
    prefix = f"profile-images/{caller.user_id}/{uuid.uuid4().hex}"
    for rendition in renditions:
        await run_in_threadpool(
            rt.blobs.put, f"{prefix}/{rendition.size}.webp", rendition.data, rendition.content_type
        )
    await run_in_threadpool(
        _save, rt, ctx, caller.user_id, "SetProfileImage", lambda p, c: p.set_image(c, prefix)
    )
    url = file_url(rt, request, prefix)
    sizes = {str(r.size): file_url(rt, request, prefix, r.size) for r in renditions}
    return ok({"url": url, "profileImageUrl": url, "sizes": sizes}, mirror=True)


@router.get("/upload/file/{key:path}", tags=["files"])
def get_file(key: str, rt: RuntimeDep) -> Response:
    """Public by necessity (``<img>``/``<audio>`` send no token): only unguessable keys under
    public prefixes are served."""
    if not key.startswith(PUBLIC_BLOB_PREFIXES):
        raise ApiError(404, "파일을 찾을 수 없습니다 (file not found)", "FILE_NOT_FOUND")
    try:
        blob = rt.blobs.get(key)
    except (BlobNotFound, InvalidBlobKey):
        raise ApiError(404, "파일을 찾을 수 없습니다 (file not found)", "FILE_NOT_FOUND") from None
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(blob.data, media_type=blob.content_type, headers=headers)


# -- settings ---------------------------------------------------------------------------
def section_values(rt: Services, user_id: str, section: str) -> dict[str, Any]:
    """A settings section with defaults filled in, as the settings pages read it."""
    return settings_of(rt.read_models, user_id, SETTINGS_MODELS[section]).model_dump()


def patch_settings_section(
    rt: Services, ctx: CommandContext, user_id: str, section: Any, body: dict[str, Any]
) -> dict[str, Any]:
    merged = {**section_values(rt, user_id, section), **body}
    try:
        values = SETTINGS_MODELS[section].model_validate(merged).model_dump()
    except ValueError as exc:
        raise RuleViolation(
            f"invalid {section} settings", code="INVALID_SETTINGS", reason=str(exc)[:300]
        ) from None
    _save(rt, ctx, user_id, "ChangeSettings", lambda p, c: p.change_settings(c, section, values))
    return ok(values, mirror=True)


def _settings_routes(section: str) -> None:
    def read(caller: CallerDep, rt: RuntimeDep) -> dict[str, Any]:
        return ok(section_values(rt, caller.user_id, section), mirror=True)

    def write(
        body: dict[str, Any], caller: CallerDep, ctx: UserContext, rt: RuntimeDep
    ) -> dict[str, Any]:
        return patch_settings_section(rt, ctx, caller.user_id, section, body)

    router.add_api_route(
        f"/settings/{section}", read, methods=["GET"], name=f"get_{section}_settings"
    )
    # One route per method: a route with two methods gives both one operationId, which
    # makes the OpenAPI document invalid (operationIds are unique).
    for method in ("PATCH", "PUT"):
        router.add_api_route(
            f"/settings/{section}", write, methods=[method],
            name=f"{method.lower()}_{section}_settings",
        )  # fmt: skip


for _name in SETTINGS_MODELS:
    _settings_routes(_name)


@router.get("/settings/account")
def get_account_settings(
    caller: CallerDep, rt: RuntimeDep, request: Request, lang: UserLang
) -> dict[str, Any]:
    profile = _own_profile(rt, request, caller.user_id, lang)
    row = get_profile(rt.read_models, caller.user_id) or {}
    data = {
        "englishName": profile["englishName"],
        "residence": row.get("location_id"),
        "bio": profile["bio"],
        "email": profile["email"],
        "phoneNumber": None,
        "birthDate": profile["birthday"],
        "gender": profile["gender"],
        "profileImage": profile["profileImageUrl"],
    }
    return ok(data, mirror=True)


class AccountSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    englishName: str | None = None  # noqa: N815
    residence: str | int | None = None
    bio: str | None = None
    gender: str | None = None


@router.patch("/settings/account")
def patch_account_settings(
    body: AccountSettings, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    location = cmd.location_id(body.residence)

    def change(profile: Profile, cause: Any) -> None:
        if body.englishName:
            profile.set_english_name(cause, body.englishName)
        if body.bio is not None:
            profile.set_bio(cause, body.bio)
        if location is not None:
            profile.set_residence(cause, location)
        if body.gender:
            profile.set_gender(cause, body.gender)

    return _save(rt, ctx, caller.user_id, "UpdateAccountSettings", change)


@router.get("/users/settings")
def get_user_settings(caller: CallerDep, rt: RuntimeDep) -> dict[str, Any]:
    notifications = section_values(rt, caller.user_id, "notifications")
    return ok(
        {
            "notifications": {
                "email": notifications["emailEnabled"],
                "push": notifications["pushEnabled"],
                "sms": False,
            },
            "privacy": section_values(rt, caller.user_id, "privacy"),
            "preferences": section_values(rt, caller.user_id, "language"),
        }
    )


class UserSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    notifications: dict[str, bool] | None = None
    privacy: dict[str, Any] | None = None
    preferences: dict[str, Any] | None = None


@router.put("/users/settings")
def put_user_settings(
    body: UserSettings, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    if body.notifications is not None:
        mapped = {
            "emailEnabled": body.notifications.get("email", False),
            "pushEnabled": body.notifications.get("push", True),
        }
        patch_settings_section(rt, ctx, caller.user_id, "notifications", mapped)
    if body.privacy is not None:
        patch_settings_section(rt, ctx, caller.user_id, "privacy", body.privacy)
    if body.preferences is not None:
        patch_settings_section(rt, ctx, caller.user_id, "language", body.preferences)
    return get_user_settings(caller, rt)


# -- data export ------------------------------------------------------------------------
EXPORT_TTL_SECONDS = 3600


def _export_signature(rt: Services, user_id: str, request_id: str, expires: int) -> str:
    message = f"{user_id}:{request_id}:{expires}".encode()
    return hmac.new(rt.pepper.encode(), message, hashlib.sha256).hexdigest()


@router.post("/settings/export")
def post_export(
    caller: CallerDep, ctx: UserContext, rt: RuntimeDep, request: Request, lang: UserLang
) -> dict[str, Any]:
    """Everything we hold about the caller as one JSON file, behind a signed one-hour link
    (the SPA opens ``downloadUrl`` directly, without a bearer token)."""
    request_id = uuid.uuid4().hex
    history = login_history(rt.read_models, caller.user_id, limit=1000)
    document = {
        "exportedAt": datetime.now(UTC).isoformat(),
        "profile": _own_profile(rt, request, caller.user_id, lang),
        "settings": {name: section_values(rt, caller.user_id, name) for name in SETTINGS_MODELS},
        "loginHistory": [{**row, "at": row["at"].isoformat()} for row in history],
    }
    body = json.dumps(document, ensure_ascii=False, default=str, indent=2).encode()
    rt.blobs.put(f"exports/{caller.user_id}/{request_id}.json", body, "application/json")
    cmd.change_profile(
        rt.bus, ctx, caller.user_id, "ExportData", lambda p, c: p.export(c, request_id)
    )
    expires = int(datetime.now(UTC).timestamp()) + EXPORT_TTL_SECONDS
    signature = _export_signature(rt, caller.user_id, request_id, expires)
    origin = rt.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    query = f"expires={expires}&signature={signature}"
    url = f"{origin}/api/v1/settings/export/{caller.user_id}/{request_id}?{query}"
    filename = f"languagemate-export-{request_id[:8]}.json"
    return ok({"downloadUrl": url, "filename": filename, "requestId": request_id}, mirror=True)


@router.get("/settings/export/{user_id}/{request_id}")
def get_export(
    user_id: UUID, request_id: str, expires: int, signature: str, rt: RuntimeDep
) -> Response:
    """Serves an export only with a valid, unexpired signature for that user and request."""
    expected = _export_signature(rt, str(user_id), request_id, expires)
    fresh = expires >= int(datetime.now(UTC).timestamp())
    # Bytes: compare_digest refuses str with non-ASCII characters (TypeError, a 500).
    if not (fresh and hmac.compare_digest(expected.encode(), signature.encode())):
        raise ApiError(404, "file not found", "FILE_NOT_FOUND")
    try:
        blob = rt.blobs.get(f"exports/{user_id}/{request_id}.json")
    except (BlobNotFound, InvalidBlobKey):
        raise ApiError(404, "file not found", "FILE_NOT_FOUND") from None
    headers = {
        "Content-Disposition": f'attachment; filename="languagemate-export-{request_id[:8]}.json"',
        "Cache-Control": "no-store",
    }
    return Response(blob.data, media_type="application/json", headers=headers)

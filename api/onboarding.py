"""Onboarding: the SPA's five sections, one save per page (spa-contract 4.2, 4.3).

Each page posts one step and moves on only after a 2xx, then reads the onboarding status:
every save is a named profile command and answers once the profiles read model shows it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from api.deps import Caller, CallerDep, ReadModelsDep, UserContext, Writes, WritesDep
from api.envelope import ok
from api.i18n import UserLang
from api.schemas import profiles as body
from api.views.catalogs import catalog_items
from api.views.profiles import onboarding_status, save, target_languages
from commands import profiles as cmd
from commands.base import CommandContext
from projections.profiles import blank_profile, get_profile

router = APIRouter(prefix="/api/v1", tags=["onboarding"])


@router.post("/onboarding/steps/1/save")
def save_step_one(
    step: body.SaveStep, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    data = step.step_data
    location = body.location_id(data.residence)
    command = cmd.UpdateProfile(user_id=caller.user_id, english_name=data.english_name,
                                location_id=location, bio=data.intro)  # fmt: skip
    return save(writes, ctx, cmd.update_profile, command)


@router.post("/users/location")
def post_location(
    location: body.Location, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.SetResidence(user_id=caller.user_id, location_id=location.location_id)
    return save(writes, ctx, cmd.set_residence, command)


@router.post("/users/self-bio")
def post_self_bio(
    bio: body.SelfBio, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.SetBio(user_id=caller.user_id, bio=bio.self_bio)
    return save(writes, ctx, cmd.set_bio, command)


@router.post("/users/gender")
def post_gender(
    gender: body.Gender, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.SetGender(user_id=caller.user_id, gender=gender.gender_type)
    return save(writes, ctx, cmd.set_gender, command)


@router.post("/users/birthyear")
def post_birth_year(
    year: body.BirthYear, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.SetBirthYear(user_id=caller.user_id, year=int(year.birthyear),
                               current_year=datetime.now(UTC).year)  # fmt: skip
    return save(writes, ctx, cmd.set_birth_year, command)


@router.post("/users/birthday")
def post_birthday(
    birthday: body.Birthday, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.SetBirthday(user_id=caller.user_id, birthday=birthday.birthday)
    return save(writes, ctx, cmd.set_birthday, command)


@router.post("/onboarding/language/native-language")
def post_native_language(
    native: body.NativeLanguage, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.SetNativeLanguage(user_id=caller.user_id, language_id=native.language_id)
    return save(writes, ctx, cmd.set_native_language, command)


@router.post("/onboarding/language/language-level")
def post_language_levels(
    levels: body.LanguageLevels, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.SetLanguageLevels(user_id=caller.user_id,
                                    languages=body.target_languages(levels))  # fmt: skip
    return save(writes, ctx, cmd.set_language_levels, command)


def _interests(
    kind: str, ids: list[int], caller: Caller, ctx: CommandContext, writes: Writes
) -> dict[str, Any]:
    command = cmd.ChooseInterests(user_id=caller.user_id, kind=kind, ids=ids)
    return save(writes, ctx, cmd.choose_interests, command)


@router.post("/onboarding/interest/motivation")
def post_motivations(
    chosen: body.Motivations, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    return _interests("motivations", chosen.motivation_ids, caller, ctx, writes)


@router.post("/onboarding/interest/topic")
def post_topics(
    chosen: body.Topics, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    return _interests("topics", chosen.topic_ids, caller, ctx, writes)


@router.post("/onboarding/interest/learning-style")
def post_learning_styles(
    chosen: body.LearningStyles, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    return _interests("learning_styles", chosen.learning_style_ids, caller, ctx, writes)


@router.post("/onboarding/interest/learning-expectation")
def post_learning_expectations(
    chosen: body.LearningExpectations, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    return _interests("learning_expectations", chosen.learning_expectation_ids, caller, ctx, writes)


@router.post("/onboarding/partner/gender")
def post_partner_gender(
    gender: body.PartnerGender, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.PreferPartner(user_id=caller.user_id, gender=gender.partner_gender_type)
    return save(writes, ctx, cmd.prefer_partner, command)


@router.post("/onboarding/partner/personality")
def post_partner_personalities(
    chosen: body.PartnerPersonalities, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    ids = [choice.partner_personality_id for choice in chosen.personal_partner_ids]
    command = cmd.PreferPartner(user_id=caller.user_id, personality_ids=ids)
    return save(writes, ctx, cmd.prefer_partner, command)


@router.post("/onboarding/schedule/communication-method")
def post_communication_method(
    method: body.CommunicationMethod, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.PreferStudy(user_id=caller.user_id,
                              communication_method=method.communication_method_type)  # fmt: skip
    return save(writes, ctx, cmd.prefer_study, command)


@router.post("/onboarding/schedule/group-size")
def post_group_sizes(
    sizes: body.GroupSizes, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.PreferStudy(user_id=caller.user_id, group_size_ids=sizes.group_size_ids)
    return save(writes, ctx, cmd.prefer_study, command)


@router.post("/onboarding/schedule/daily-minute")
def post_daily_minutes(
    minutes: body.DailyMinutes, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.PreferStudy(user_id=caller.user_id,
                              daily_minutes=str(minutes.daily_minutes_type))  # fmt: skip
    return save(writes, ctx, cmd.prefer_study, command)


@router.post("/onboarding/schedule")
def post_schedule(
    slots: body.Schedules, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.SetSchedule(user_id=caller.user_id, schedules=body.schedule_entries(slots))
    return save(writes, ctx, cmd.set_schedule, command)


@router.post("/users/complete-onboarding")
def post_complete_onboarding(
    caller: CallerDep, ctx: UserContext, writes: WritesDep, read_models: ReadModelsDep,
    _: body.CompleteOnboarding | None = None,
) -> dict[str, Any]:  # fmt: skip
    """422 ``ONBOARDING_INCOMPLETE`` names every missing item; nothing is recorded then."""
    save(writes, ctx, cmd.complete_onboarding, cmd.CompleteOnboarding(user_id=caller.user_id))
    return ok(onboarding_status(get_profile(read_models, caller.user_id)))


@router.get("/users/onboarding-status")
def get_onboarding_status(caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    return ok(onboarding_status(get_profile(read_models, caller.user_id)), mirror=True)


@router.get("/onboarding/data")
def get_onboarding_data(
    caller: CallerDep, read_models: ReadModelsDep, lang: UserLang
) -> dict[str, Any]:
    row = get_profile(read_models, caller.user_id) or blank_profile(caller.user_id)

    def options(catalog: Any) -> list[dict[str, Any]]:
        return [{"id": item["id"], "name": item["name"]} for item in catalog_items(catalog, lang)]

    return ok(
        {
            "userOnboardingData": {
                "nativeLanguageId": row["native_language_id"],
                "targetLanguages": target_languages(row, lang),
                "motivationIds": row["motivations"] or [],
                "topicIds": row["topics"] or [],
                "learningStyleIds": row["learning_styles"] or [],
                "learningExpectationIds": row["learning_expectations"] or [],
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

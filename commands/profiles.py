"""Profile and onboarding commands: each a decision of the learner's ``Profile``.

The SPA saves a profile one onboarding step or one field at a time; each of those is a
command here (the router translates the SPA's body into it). A command records only real
changes: saving the same answer twice appends nothing.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from commands.base import Command, OnOne
from domain.aggregate import Cause
from domain.errors import RuleViolation
from domain.profiles import Profile, ScheduleEntry, SettingsSection, TargetLanguage, profile_id
from domain.settings import SETTINGS_MODELS

MAX_BIO = 1000


class ProfileCommand(Command):
    user_id: str = Field(max_length=36)


def _owned(profile: Profile, command: ProfileCommand) -> None:
    """A profile is the user's from its first event on (every event names the user)."""
    profile.user_id = command.user_id


on_profile = OnOne(Profile, lambda c: profile_id(c.user_id), start=_owned)


class UpdateProfile(ProfileCommand):
    """Any of the editable basics at once (onboarding step 1, the profile and account
    pages): fields left out are not changed."""

    english_name: str | None = None
    bio: str | None = Field(default=None, max_length=MAX_BIO)
    location_id: int | None = None
    gender: str | None = Field(default=None, max_length=20)


@on_profile
def update_profile(profile: Profile, cause: Cause, command: UpdateProfile) -> None:
    if command.english_name is not None:
        profile.set_english_name(cause, command.english_name)
    if command.location_id is not None:
        profile.set_residence(cause, command.location_id)
    if command.bio is not None:
        profile.set_bio(cause, command.bio)
    if command.gender is not None:
        profile.set_gender(cause, command.gender)


class SetResidence(ProfileCommand):
    location_id: int


@on_profile
def set_residence(profile: Profile, cause: Cause, command: SetResidence) -> None:
    profile.set_residence(cause, command.location_id)


class SetBio(ProfileCommand):
    bio: str = Field(max_length=MAX_BIO)


@on_profile
def set_bio(profile: Profile, cause: Cause, command: SetBio) -> None:
    profile.set_bio(cause, command.bio)


class SetGender(ProfileCommand):
    gender: str = Field(max_length=20)


@on_profile
def set_gender(profile: Profile, cause: Cause, command: SetGender) -> None:
    profile.set_gender(cause, command.gender)


class SetBirthYear(ProfileCommand):
    year: int
    current_year: int
    """The year it is where the command is decided (the range of plausible birth years)."""


@on_profile
def set_birth_year(profile: Profile, cause: Cause, command: SetBirthYear) -> None:
    profile.set_birth_year(cause, command.year, command.current_year)


class SetBirthday(ProfileCommand):
    birthday: str = Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


@on_profile
def set_birthday(profile: Profile, cause: Cause, command: SetBirthday) -> None:
    profile.set_birthday(cause, command.birthday)


class SetNativeLanguage(ProfileCommand):
    language_id: int


@on_profile
def set_native_language(profile: Profile, cause: Cause, command: SetNativeLanguage) -> None:
    profile.set_native_language(cause, command.language_id)


class SetLanguageLevels(ProfileCommand):
    languages: list[TargetLanguage] = Field(min_length=1, max_length=10)


@on_profile
def set_language_levels(profile: Profile, cause: Cause, command: SetLanguageLevels) -> None:
    profile.set_language_levels(cause, command.languages)


class ChooseInterests(ProfileCommand):
    kind: str = Field(pattern="^(motivations|topics|learning_styles|learning_expectations)$")
    ids: list[int] = Field(max_length=30)


@on_profile
def choose_interests(profile: Profile, cause: Cause, command: ChooseInterests) -> None:
    profile.choose_interests(cause, command.kind, command.ids)


class PreferPartner(ProfileCommand):
    gender: str | None = Field(default=None, max_length=20)
    personality_ids: list[int] | None = Field(default=None, max_length=20)


@on_profile
def prefer_partner(profile: Profile, cause: Cause, command: PreferPartner) -> None:
    profile.prefer_partner(cause, gender=command.gender, personality_ids=command.personality_ids)


class PreferStudy(ProfileCommand):
    communication_method: str | None = Field(default=None, max_length=20)
    group_size_ids: list[int] | None = Field(default=None, max_length=10)
    daily_minutes: str | None = Field(default=None, max_length=20)


@on_profile
def prefer_study(profile: Profile, cause: Cause, command: PreferStudy) -> None:
    profile.prefer_study(cause, communication_method=command.communication_method,
                         group_size_ids=command.group_size_ids,
                         daily_minutes=command.daily_minutes)  # fmt: skip


class SetSchedule(ProfileCommand):
    schedules: list[ScheduleEntry] = Field(max_length=50)


@on_profile
def set_schedule(profile: Profile, cause: Cause, command: SetSchedule) -> None:
    profile.set_schedule(cause, command.schedules)


class CompleteOnboarding(ProfileCommand):
    """Refused with every missing item named while any step is unfinished."""


@on_profile
def complete_onboarding(profile: Profile, cause: Cause, command: CompleteOnboarding) -> None:
    profile.complete_onboarding(cause)


class SetProfileImage(ProfileCommand):
    image_key: str = Field(max_length=200)


@on_profile
def set_profile_image(profile: Profile, cause: Cause, command: SetProfileImage) -> None:
    profile.set_image(cause, command.image_key)


class ChangeSettings(ProfileCommand):
    section: SettingsSection
    changes: dict[str, Any]
    """The fields to change; the others keep their values (or defaults)."""


@on_profile
def change_settings(profile: Profile, cause: Cause, command: ChangeSettings) -> dict[str, Any]:
    """The section's values after the change (all of them, defaults filled in)."""
    model = SETTINGS_MODELS[command.section]
    merged = {**profile.settings(command.section), **command.changes}
    try:
        values = model.model_validate(merged).model_dump()
    except ValueError as exc:
        raise RuleViolation(f"invalid {command.section} settings", code="INVALID_SETTINGS",
                            reason=str(exc)[:300]) from None  # fmt: skip
    profile.change_settings(cause, command.section, values)
    return {"values": values}


class ExportData(ProfileCommand):
    request_id: str = Field(max_length=64)


@on_profile
def export_data(profile: Profile, cause: Cause, command: ExportData) -> None:
    profile.export(cause, command.request_id)


class RecordAssessedLevel(ProfileCommand):
    language_id: int
    level: str = Field(pattern="^(A1|A2|B1|B2|C1|C2)$")
    test_id: int


@on_profile
def record_assessed_level(profile: Profile, cause: Cause, command: RecordAssessedLevel) -> None:
    """A level test's result becomes the learner's assessed level (once per test); a
    learner who has not started a profile yet gets none."""
    if profile.version:
        profile.record_assessed_level(cause, language_id=command.language_id,
                                      level=command.level, test_id=command.test_id)  # fmt: skip

"""Profile, onboarding and settings bodies (spa-contract 4.2, 4.3, 4.13)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from api.schemas.base import Body
from domain.errors import RuleViolation
from domain.profiles import ScheduleEntry, TargetLanguage


class StepOneData(Body):
    english_name: str = Field(min_length=2, max_length=50)
    residence: str | int | None = None
    profile_image: str | None = None
    intro: str | None = Field(default=None, max_length=1000)


class SaveStep(Body):
    step_number: int = Field(ge=1, le=5)
    step_data: StepOneData


class Location(Body):
    location_id: int


class SelfBio(Body):
    self_bio: str = Field(default="", max_length=1000)


class Gender(Body):
    gender_type: str = Field(max_length=20)


class BirthYear(Body):
    birthyear: str = Field(pattern=r"^\d{4}$")


class Birthday(Body):
    birthday: str = Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


class NativeLanguage(Body):
    language_id: int


class LevelEntry(Body):
    language_id: int
    current_level_id: int
    target_level_id: int


class LanguageLevels(Body):
    languages: list[LevelEntry] = Field(min_length=1, max_length=10)


class Motivations(Body):
    motivation_ids: list[int] = Field(max_length=30)


class Topics(Body):
    topic_ids: list[int] = Field(max_length=30)


class LearningStyles(Body):
    learning_style_ids: list[int] = Field(max_length=30)


class LearningExpectations(Body):
    learning_expectation_ids: list[int] = Field(max_length=30)


class PartnerGender(Body):
    partner_gender_type: str = Field(max_length=20)


class PersonalityChoice(Body):
    partner_personality_id: int
    partner_gender: str | None = None


class PartnerPersonalities(Body):
    personal_partner_ids: list[PersonalityChoice] = Field(max_length=20)


class CommunicationMethod(Body):
    communication_method_type: str = Field(max_length=20)


class GroupSizes(Body):
    group_size_ids: list[int] = Field(max_length=10)


class DailyMinutes(Body):
    """The SPA sends a choice id (``"MINUTES_30"``); older screens send the minutes."""

    daily_minutes_type: (
        Annotated[str, Field(max_length=20)] | Annotated[int, Field(ge=0, le=24 * 60)]
    ) = Field(union_mode="left_to_right")


class Slot(Body):
    day_of_week: str
    class_time: str


class Schedules(Body):
    schedules: list[Slot] = Field(max_length=50)


class CompleteOnboarding(Body):
    completed_at: str | None = None
    all_steps_completed: bool | None = None


class ProfileUpdate(Body):
    """``PUT /users/complete-profile``: any subset of the editable profile fields."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, alias_generator=to_camel)

    english_name: str | None = Field(default=None, min_length=2, max_length=50)
    name: str | None = Field(default=None, min_length=2, max_length=50)
    residence: str | int | None = None
    location: str | int | None = None
    intro: str | None = Field(default=None, max_length=1000)
    self_bio: str | None = Field(default=None, max_length=1000)
    bio: str | None = Field(default=None, max_length=1000)


class AccountSettings(BaseModel):
    """``PATCH /settings/account``: the account page's fields (unknown ones ignored)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    englishName: str | None = None  # noqa: N815
    residence: str | int | None = None
    bio: str | None = None
    gender: str | None = None


class UserSettings(BaseModel):
    """``PUT /users/settings``: the older settings page's three groups."""

    model_config = ConfigDict(extra="ignore")

    notifications: dict[str, bool] | None = None
    privacy: dict[str, Any] | None = None
    preferences: dict[str, Any] | None = None


def location_id(value: str | int | None) -> int | None:
    """The SPA sends a location id; older screens send it as a numeric string."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    return int(value) if value.strip().isdigit() else None


def target_languages(body: LanguageLevels) -> list[TargetLanguage]:
    return [
        TargetLanguage(language_id=e.language_id, current_level_id=e.current_level_id,
                       target_level_id=e.target_level_id)
        for e in body.languages
    ]  # fmt: skip


def schedule_entries(body: Schedules) -> list[ScheduleEntry]:
    try:
        return [
            ScheduleEntry(day_of_week=s.day_of_week.upper(), class_time=s.class_time)
            for s in body.schedules
        ]
    except ValidationError:
        raise RuleViolation(
            "schedules need a weekday and an HH:MM time", code="INVALID_SCHEDULE"
        ) from None

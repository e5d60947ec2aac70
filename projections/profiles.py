"""Profiles read model: one row per learner with everything onboarding collected, plus their
settings sections. Queries shape it into the SPA's responses in ``api/profiles.py``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypedDict, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.dialects import postgresql

from domain import reference
from domain.identity import AccountDeleted
from domain.profiles import (
    BirthdaySet,
    BirthYearSet,
    EnglishNameSet,
    GenderSet,
    InterestsChosen,
    LanguageLevelAssessed,
    NativeLanguageSet,
    OnboardingCompleted,
    PartnerLevelPreferred,
    PartnerPreferencesSet,
    ProfileImageSet,
    ResidenceSet,
    ScheduleSet,
    SelfBioSet,
    SettingsChanged,
    StudyPreferencesSet,
    TargetLanguagesSet,
)
from eventflow.buffer import ProjectionTx
from eventflow.projection import Projection
from eventflow.queries import first_row, rows_where
from eventflow.readmodels import ReadModels

Section = TypeVar("Section", bound=BaseModel)

profiles = Projection("profiles")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class ProfileRow(TypedDict):
    """A ``profiles`` row. Each column is null until its onboarding item is saved; the JSON
    columns hold what the events carried (``domain.profiles``): target languages as
    ``{language_id, current_level_id, target_level_id}``, per-language maps keyed by the
    language id as text, the interest and preference lists as reference ids, schedules as
    ``{day_of_week, class_time}``."""

    user_id: str
    english_name: str | None
    location_id: int | None
    bio: str | None
    image_key: str | None
    gender: str | None
    birth_year: str | None
    birthday: str | None
    native_language_id: int | None
    target_languages: list[dict[str, int]] | None
    partner_levels: dict[str, int] | None
    assessed_levels: dict[str, str] | None
    motivations: list[int] | None
    topics: list[int] | None
    learning_styles: list[int] | None
    learning_expectations: list[int] | None
    partner_gender: str | None
    partner_personalities: list[int] | None
    communication_method: str | None
    group_sizes: list[int] | None
    daily_minutes: str | None
    schedules: list[dict[str, str]] | None
    onboarding_completed: bool
    completed_at: datetime | None
    updated_at: datetime | None


@profiles.tables
def _tables(metadata: sa.MetaData, name: Callable[[str], str]) -> None:
    sa.Table(
        name("profiles"),
        metadata,
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("english_name", sa.String(50)),
        sa.Column("location_id", sa.Integer),
        sa.Column("bio", sa.Text),
        sa.Column("image_key", sa.String(200)),
        sa.Column("gender", sa.String(20)),
        sa.Column("birth_year", sa.String(4)),
        sa.Column("birthday", sa.String(5)),
        sa.Column("native_language_id", sa.Integer, index=True),
        sa.Column("target_languages", JSON),
        sa.Column("partner_levels", JSON),
        sa.Column("assessed_levels", JSON),
        sa.Column("motivations", JSON),
        sa.Column("topics", JSON),
        sa.Column("learning_styles", JSON),
        sa.Column("learning_expectations", JSON),
        sa.Column("partner_gender", sa.String(20)),
        sa.Column("partner_personalities", JSON),
        sa.Column("communication_method", sa.String(20)),
        sa.Column("group_sizes", JSON),
        sa.Column("daily_minutes", sa.String(20)),
        sa.Column("schedules", JSON),
        sa.Column("onboarding_completed", sa.Boolean, nullable=False, default=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
    )
    sa.Table(
        name("user_settings"),
        metadata,
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("section", sa.String(20), primary_key=True),
        sa.Column("values", JSON, nullable=False),
    )


def _set(tx: ProjectionTx, event: Any, **columns: Any) -> None:
    row = {"user_id": event.user_id, **columns, "updated_at": event.meta.occurred_at}
    tx.upsert("profiles", row, key=["user_id"])


@profiles.on(EnglishNameSet)
def _english_name(e: EnglishNameSet, tx: ProjectionTx) -> None:
    _set(tx, e, english_name=e.english_name)


@profiles.on(ResidenceSet)
def _residence(e: ResidenceSet, tx: ProjectionTx) -> None:
    _set(tx, e, location_id=e.location_id)


@profiles.on(SelfBioSet)
def _bio(e: SelfBioSet, tx: ProjectionTx) -> None:
    _set(tx, e, bio=e.bio)


@profiles.on(ProfileImageSet)
def _image(e: ProfileImageSet, tx: ProjectionTx) -> None:
    _set(tx, e, image_key=e.image_key)


@profiles.on(GenderSet)
def _gender(e: GenderSet, tx: ProjectionTx) -> None:
    _set(tx, e, gender=e.gender)


@profiles.on(BirthYearSet)
def _birth_year(e: BirthYearSet, tx: ProjectionTx) -> None:
    _set(tx, e, birth_year=e.birth_year)


@profiles.on(BirthdaySet)
def _birthday(e: BirthdaySet, tx: ProjectionTx) -> None:
    _set(tx, e, birthday=e.birthday)


@profiles.on(NativeLanguageSet)
def _native(e: NativeLanguageSet, tx: ProjectionTx) -> None:
    _set(tx, e, native_language_id=e.language_id)


@profiles.on(TargetLanguagesSet)
def _targets(e: TargetLanguagesSet, tx: ProjectionTx) -> None:
    _set(tx, e, target_languages=[t.model_dump() for t in e.languages])


def _set_per_language(tx: ProjectionTx, event: Any, column: str, value: Any) -> None:
    """Set one language's entry of a JSON column keyed by language id, keeping the others."""
    table = tx.table("profiles")
    current = tx.execute(
        sa.select(table.c[column]).where(table.c.user_id == event.user_id)
    ).scalar_one_or_none()
    _set(tx, event, **{column: {**(current or {}), str(event.language_id): value}})


@profiles.on(PartnerLevelPreferred)
def _partner_level(e: PartnerLevelPreferred, tx: ProjectionTx) -> None:
    _set_per_language(tx, e, "partner_levels", e.partner_level_id)


@profiles.on(LanguageLevelAssessed)
def _assessed_level(e: LanguageLevelAssessed, tx: ProjectionTx) -> None:
    """The latest level test result per language (CEFR); the self-reported level stays in
    ``target_languages``."""
    _set_per_language(tx, e, "assessed_levels", e.level)


@profiles.on(InterestsChosen)
def _interests(e: InterestsChosen, tx: ProjectionTx) -> None:
    _set(tx, e, **{e.kind: list(e.ids)})


@profiles.on(PartnerPreferencesSet)
def _partner(e: PartnerPreferencesSet, tx: ProjectionTx) -> None:
    columns: dict[str, Any] = {}
    if e.gender is not None:
        columns["partner_gender"] = e.gender
    if e.personality_ids is not None:
        columns["partner_personalities"] = list(e.personality_ids)
    _set(tx, e, **columns)


@profiles.on(StudyPreferencesSet)
def _study(e: StudyPreferencesSet, tx: ProjectionTx) -> None:
    columns: dict[str, Any] = {}
    if e.communication_method is not None:
        columns["communication_method"] = e.communication_method
    if e.group_size_ids is not None:
        columns["group_sizes"] = list(e.group_size_ids)
    if e.daily_minutes is not None:
        columns["daily_minutes"] = e.daily_minutes
    _set(tx, e, **columns)


@profiles.on(ScheduleSet)
def _schedule(e: ScheduleSet, tx: ProjectionTx) -> None:
    _set(tx, e, schedules=[s.model_dump() for s in e.schedules])


@profiles.on(OnboardingCompleted)
def _completed(e: OnboardingCompleted, tx: ProjectionTx) -> None:
    _set(tx, e, onboarding_completed=True, completed_at=e.meta.occurred_at)


@profiles.on(SettingsChanged)
def _settings(e: SettingsChanged, tx: ProjectionTx) -> None:
    tx.upsert(
        "user_settings",
        {"user_id": e.user_id, "section": e.section, "values": e.values},
        key=["user_id", "section"],
    )


@profiles.on(AccountDeleted)
def _deleted(e: AccountDeleted, tx: ProjectionTx) -> None:
    tx.delete("profiles", {"user_id": str(e.aggregate_id)})
    tx.delete("user_settings", {"user_id": str(e.aggregate_id)})


def get_profile(read_models: ReadModels, user_id: str) -> ProfileRow | None:
    table = read_models.table(profiles, "profiles")
    return first_row(read_models, sa.select(table).where(table.c.user_id == user_id), ProfileRow)


def blank_profile(user_id: str) -> ProfileRow:
    """The profile of a learner who has saved nothing yet: every item missing."""
    return ProfileRow(user_id=user_id, english_name=None, location_id=None, bio=None,
                      image_key=None, gender=None, birth_year=None, birthday=None,
                      native_language_id=None, target_languages=None, partner_levels=None,
                      assessed_levels=None, motivations=None, topics=None,
                      learning_styles=None, learning_expectations=None, partner_gender=None,
                      partner_personalities=None, communication_method=None,
                      group_sizes=None, daily_minutes=None, schedules=None,
                      onboarding_completed=False, completed_at=None,
                      updated_at=None)  # fmt: skip


def settings_of(read_models: ReadModels, user_id: str, model: type[Section]) -> Section:
    """One settings section of a user, defaults filled in (``domain.settings``)."""
    stored = get_settings(read_models, user_id).get(model.section, {})  # type: ignore[attr-defined]
    try:
        return model.model_validate(stored)
    except ValidationError as exc:  # saved before a rule tightened: those fields default
        invalid = {error["loc"][0] for error in exc.errors() if error["loc"]}
        return model.model_validate({k: v for k, v in stored.items() if k not in invalid})


def get_settings(read_models: ReadModels, user_id: str) -> dict[str, dict[str, Any]]:
    table = read_models.table(profiles, "user_settings")
    with read_models.reads() as conn:
        rows = conn.execute(sa.select(table).where(table.c.user_id == user_id)).all()
    return {r.section: dict(r.values) for r in rows}


def get_profiles(read_models: ReadModels, user_ids: list[str]) -> dict[str, ProfileRow]:
    """Several profiles in one query (partner search scores a page of candidates at once)."""
    table = read_models.table(profiles, "profiles")
    return rows_where(read_models, table, "user_id", user_ids, ProfileRow)


def image_path(key: str, size: int = 512) -> str:
    """The public path of a stored profile image at one of its rendered sizes."""
    return f"/api/v1/upload/file/{key}/{size}.webp"


def time_zone_of(read_models: ReadModels, user_id: str) -> ZoneInfo:
    """The user's zone: their profile location's, else UTC."""
    profile = get_profile(read_models, user_id)
    location_id = profile["location_id"] if profile else None
    location = reference.location(location_id) if location_id else None
    return ZoneInfo(location.timezone) if location else ZoneInfo("UTC")

"""Profiles and onboarding: what a learner tells us about themselves, step by step.

A profile is its own stream (``profile_id(user_id)``, derived from the account id), and every
event names its user. Every onboarding save is its own event,
so the onboarding status is derived from history, and a later save never wipes an earlier
one (the original system's "complete onboarding" erased the native language; here completing
only records that it happened, after checking nothing required is missing).

Ids and codes are validated against the shipped reference data (``domain.reference``) in the
command layer before the aggregate sees them; the aggregate enforces the rules between them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, Field

from domain import reference
from domain.aggregate import Aggregate, Cause, applies
from domain.errors import RuleViolation
from domain.events import DomainEvent, Personal

E = TypeVar("E", bound=DomainEvent)
SettingsSection = Literal["notifications", "privacy", "language", "preferences", "matching"]


class TargetLanguage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    language_id: int
    current_level_id: int
    target_level_id: int


class ScheduleEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    day_of_week: str = Field(
        pattern=r"^(MONDAY|TUESDAY|WEDNESDAY|THURSDAY|FRIDAY|SATURDAY|SUNDAY)$"
    )
    class_time: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


PROFILE_NAMESPACE = UUID("5d3c7a0e-2b8f-4f61-9a59-1f0e6f2c4b77")


def profile_id(user_id: str) -> UUID:
    """A profile has its own stream, derived from (not equal to) the account's id."""
    return uuid5(PROFILE_NAMESPACE, user_id)


class ProfileEvent(DomainEvent):
    """Base of profile events: each names its user, whose key protects the personal fields."""

    personal_subject: ClassVar[str | None] = "user_id"

    user_id: str = Field(max_length=36)


class EnglishNameSet(ProfileEvent):
    topic = "profiles.EnglishNameSet"
    english_name: Personal = Field(max_length=50)


class ResidenceSet(ProfileEvent):
    topic = "profiles.ResidenceSet"
    location_id: int


class SelfBioSet(ProfileEvent):
    topic = "profiles.SelfBioSet"
    bio: Personal = Field(max_length=1000)


class ProfileImageSet(ProfileEvent):
    """``image_key`` is the blob-key prefix of the renditions (``.../512.webp`` etc.)."""

    topic = "profiles.ProfileImageSet"
    image_key: str = Field(max_length=200)


class GenderSet(ProfileEvent):
    topic = "profiles.GenderSet"
    gender: str = Field(max_length=20)


class BirthYearSet(ProfileEvent):
    topic = "profiles.BirthYearSet"
    birth_year: Personal = Field(max_length=4)


class BirthdaySet(ProfileEvent):
    topic = "profiles.BirthdaySet"
    birthday: Personal = Field(max_length=5)


class NativeLanguageSet(ProfileEvent):
    topic = "profiles.NativeLanguageSet"
    language_id: int


class TargetLanguagesSet(ProfileEvent):
    topic = "profiles.TargetLanguagesSet"
    languages: list[TargetLanguage] = Field(max_length=10)


class PartnerLevelPreferred(ProfileEvent):
    """The level a learner wants their partner to have (ObLang3's ``currentLevelId: 201``)."""

    topic = "profiles.PartnerLevelPreferred"
    language_id: int
    partner_level_id: int


class InterestsChosen(ProfileEvent):
    """One of the interest lists (motivations, topics, learning styles, expectations)."""

    topic = "profiles.InterestsChosen"
    kind: Literal["motivations", "topics", "learning_styles", "learning_expectations"]
    ids: list[int] = Field(max_length=30)


class PartnerPreferencesSet(ProfileEvent):
    topic = "profiles.PartnerPreferencesSet"
    gender: str | None = Field(default=None, max_length=20)
    personality_ids: list[int] | None = Field(default=None, max_length=20)


class StudyPreferencesSet(ProfileEvent):
    topic = "profiles.StudyPreferencesSet"
    communication_method: str | None = Field(default=None, max_length=20)
    group_size_ids: list[int] | None = Field(default=None, max_length=10)
    daily_minutes: str | None = Field(default=None, max_length=20)


class ScheduleSet(ProfileEvent):
    topic = "profiles.ScheduleSet"
    schedules: list[ScheduleEntry] = Field(max_length=50)


class OnboardingCompleted(ProfileEvent):
    topic = "profiles.OnboardingCompleted"


class DataExported(ProfileEvent):
    """The owner downloaded a copy of their data (GDPR-style portability), for the audit."""

    topic = "profiles.DataExported"
    request_id: str = Field(max_length=32)


class SettingsChanged(ProfileEvent):
    """A user's preferences section (notifications, privacy, language), replaced whole."""

    topic = "profiles.SettingsChanged"
    section: SettingsSection
    values: dict[str, Any]


class LanguageLevelAssessed(ProfileEvent):
    """The speaking level test assessed the user's level in a language (CEFR)."""

    topic = "profiles.LanguageLevelAssessed"
    language_id: int = Field(ge=1)
    level: str = Field(pattern="^(A1|A2|B1|B2|C1|C2)$")
    test_id: int = Field(ge=1)


STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("info", ("englishName", "location")),
    ("language", ("nativeLanguage", "targetLanguages")),
    ("interests", ("motivations", "topics")),
    ("partner", ("partnerGender", "partnerPersonalities")),
    ("schedule", ("communicationMethod", "groupSizes", "dailyMinutes", "schedules")),
)
"""The SPA's five onboarding sections and the items each one needs to count as done."""


class Profile(Aggregate):
    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.user_id = ""
        self.items: dict[str, Any] = {}
        self.completed = False

    def _record(self, event_type: type[E], cause: Cause, **payload: Any) -> E:
        return super()._record(event_type, cause, user_id=self.user_id, **payload)

    def _apply(self, event: DomainEvent) -> None:
        self.user_id = getattr(event, "user_id", self.user_id)
        super()._apply(event)

    # -- decisions ----------------------------------------------------------------------
    def set_english_name(self, cause: Cause, name: str) -> None:
        if not 2 <= len(name.strip()) <= 50:
            raise RuleViolation("english name must be 2-50 characters", code="INVALID_ENGLISH_NAME")
        self._change("englishName", name.strip(), EnglishNameSet, cause, english_name=name.strip())

    def set_residence(self, cause: Cause, location_id: int) -> None:
        _known("locations", [location_id], "UNKNOWN_LOCATION")
        self._change("location", location_id, ResidenceSet, cause, location_id=location_id)

    def set_bio(self, cause: Cause, bio: str) -> None:
        self._change("bio", bio, SelfBioSet, cause, bio=bio)

    def set_image(self, cause: Cause, image_key: str) -> None:
        self._change("image", image_key, ProfileImageSet, cause, image_key=image_key)

    def set_gender(self, cause: Cause, gender: str) -> None:
        code = _code("user_gender_types", gender, "UNKNOWN_GENDER")
        self._change("gender", code, GenderSet, cause, gender=code)

    def set_birth_year(self, cause: Cause, year: int, current_year: int) -> None:
        if not current_year - 120 <= year <= current_year - 10:
            raise RuleViolation("birth year is out of range", code="INVALID_BIRTH_YEAR")
        self._change("birthYear", str(year), BirthYearSet, cause, birth_year=str(year))

    def set_birthday(self, cause: Cause, birthday: str) -> None:
        self._change("birthday", birthday, BirthdaySet, cause, birthday=birthday)

    def set_native_language(self, cause: Cause, language_id: int) -> None:
        _known("languages", [language_id], "UNKNOWN_LANGUAGE")
        targets = {t.language_id for t in self.items.get("targetLanguages", [])}
        if language_id in targets:
            raise RuleViolation(
                "your native language cannot be one of your target languages",
                code="TARGET_IS_NATIVE",
            )
        self._change(
            "nativeLanguage", language_id, NativeLanguageSet, cause, language_id=language_id
        )

    def set_language_levels(self, cause: Cause, entries: list[TargetLanguage]) -> None:
        """Learner levels (ids 100-106) and, from the partner page, partner levels (200-203)."""
        if not entries:
            raise RuleViolation("choose at least one language", code="NO_LANGUAGES")
        _known("languages", [e.language_id for e in entries], "UNKNOWN_LANGUAGE")
        learner = [e for e in entries if not reference.is_partner_level(e.target_level_id)]
        partner = [e for e in entries if reference.is_partner_level(e.target_level_id)]
        for entry in learner:
            levels = (entry.current_level_id, entry.target_level_id)
            if not all(reference.is_language_level(level) for level in levels):
                raise RuleViolation(
                    "unknown language level", code="UNKNOWN_LEVEL", languageId=entry.language_id
                )
        if self.items.get("nativeLanguage") in {e.language_id for e in learner}:
            raise RuleViolation(
                "a target language cannot be your native language", code="TARGET_IS_NATIVE"
            )
        if learner:
            self._change("targetLanguages", learner, TargetLanguagesSet, cause, languages=learner)
        for entry in partner:
            key = f"partnerLevel:{entry.language_id}"
            self._change(
                key,
                entry.target_level_id,
                PartnerLevelPreferred,
                cause,
                language_id=entry.language_id,
                partner_level_id=entry.target_level_id,
            )

    def choose_interests(self, cause: Cause, kind: str, ids: list[int]) -> None:
        catalogue = {
            "motivations": "motivations",
            "topics": "topics",
            "learning_styles": "learning_styles",
            "learning_expectations": "learning_expectations",
        }[kind]
        chosen = sorted(set(ids))
        if not chosen:
            raise RuleViolation("choose at least one", code="NOTHING_CHOSEN", kind=kind)
        _known(catalogue, chosen, "UNKNOWN_OPTION")
        item = {
            "motivations": "motivations",
            "topics": "topics",
            "learning_styles": "learningStyles",
            "learning_expectations": "learningExpectations",
        }[kind]
        self._change(item, chosen, InterestsChosen, cause, kind=kind, ids=chosen)

    def prefer_partner(
        self, cause: Cause, *, gender: str | None = None, personality_ids: list[int] | None = None
    ) -> None:
        if gender is not None:
            code = _code("partner_gender_types", gender, "UNKNOWN_GENDER")
            self._change("partnerGender", code, PartnerPreferencesSet, cause, gender=code)
        if personality_ids is not None:
            chosen = sorted(set(personality_ids))
            if not chosen:
                raise RuleViolation(
                    "choose at least one", code="NOTHING_CHOSEN", kind="personalities"
                )
            _known("partner_personalities", chosen, "UNKNOWN_OPTION")
            self._change(
                "partnerPersonalities", chosen, PartnerPreferencesSet, cause, personality_ids=chosen
            )

    def prefer_study(
        self,
        cause: Cause,
        *,
        communication_method: str | None = None,
        group_size_ids: list[int] | None = None,
        daily_minutes: str | None = None,
    ) -> None:
        if communication_method is not None:
            code = _code("communication_methods", communication_method, "UNKNOWN_METHOD")
            self._change(
                "communicationMethod", code, StudyPreferencesSet, cause, communication_method=code
            )
        if group_size_ids is not None:
            chosen = sorted(set(group_size_ids))
            if not chosen:
                raise RuleViolation("choose at least one", code="NOTHING_CHOSEN", kind="groupSizes")
            _known("group_sizes", chosen, "UNKNOWN_OPTION")
            self._change("groupSizes", chosen, StudyPreferencesSet, cause, group_size_ids=chosen)
        if daily_minutes is not None:
            code = _code("daily_minutes", daily_minutes, "UNKNOWN_DAILY_MINUTES")
            self._change("dailyMinutes", code, StudyPreferencesSet, cause, daily_minutes=code)

    def set_schedule(self, cause: Cause, schedules: list[ScheduleEntry]) -> None:
        unique = sorted(set(schedules), key=lambda s: (s.day_of_week, s.class_time))
        if not unique:
            raise RuleViolation("choose at least one time", code="NOTHING_CHOSEN", kind="schedules")
        self._change("schedules", unique, ScheduleSet, cause, schedules=unique)

    def complete_onboarding(self, cause: Cause) -> None:
        missing = self.missing()
        if missing:
            raise RuleViolation(
                "onboarding is not finished", code="ONBOARDING_INCOMPLETE", missing=missing
            )
        if not self.completed:
            self._record(OnboardingCompleted, cause)

    def export(self, cause: Cause, request_id: str) -> None:
        self._record(DataExported, cause, request_id=request_id)

    def settings(self, section: SettingsSection) -> dict[str, Any]:
        """The values saved for a settings section (none saved: empty, the defaults apply)."""
        return dict(self.items.get(f"settings:{section}") or {})

    def change_settings(
        self, cause: Cause, section: SettingsSection, values: dict[str, Any]
    ) -> None:
        if self.items.get(f"settings:{section}") != values:
            self._record(SettingsChanged, cause, section=section, values=values)

    def record_assessed_level(
        self, cause: Cause, *, language_id: int, level: str, test_id: int
    ) -> None:
        """Idempotent per test (a redelivered result event records nothing)."""
        if self.items.get(f"assessedLevel:{language_id}") != (level, test_id):
            self._record(LanguageLevelAssessed, cause, language_id=language_id, level=level,
                         test_id=test_id)  # fmt: skip

    def _change(
        self, item: str, value: Any, event: type[DomainEvent], cause: Cause, **payload: Any
    ) -> None:
        """Record only real changes: re-saving a step with the same answer appends nothing."""
        if self.items.get(item) != value:
            self._record(event, cause, **payload)

    # -- derived state ------------------------------------------------------------------
    def missing(self) -> list[str]:
        return [item for _, items in STEPS for item in items if not self.items.get(item)]

    def steps_done(self) -> list[bool]:
        return [all(self.items.get(item) for item in items) for _, items in STEPS]

    # -- evolution ----------------------------------------------------------------------
    @applies(EnglishNameSet)
    def _english_name(self, e: EnglishNameSet) -> None:
        self.items["englishName"] = e.english_name

    @applies(ResidenceSet)
    def _residence(self, e: ResidenceSet) -> None:
        self.items["location"] = e.location_id

    @applies(SelfBioSet)
    def _bio(self, e: SelfBioSet) -> None:
        self.items["bio"] = e.bio

    @applies(ProfileImageSet)
    def _image(self, e: ProfileImageSet) -> None:
        self.items["image"] = e.image_key

    @applies(GenderSet)
    def _gender(self, e: GenderSet) -> None:
        self.items["gender"] = e.gender

    @applies(BirthYearSet)
    def _birth_year(self, e: BirthYearSet) -> None:
        self.items["birthYear"] = e.birth_year

    @applies(BirthdaySet)
    def _birthday(self, e: BirthdaySet) -> None:
        self.items["birthday"] = e.birthday

    @applies(NativeLanguageSet)
    def _native(self, e: NativeLanguageSet) -> None:
        self.items["nativeLanguage"] = e.language_id

    @applies(TargetLanguagesSet)
    def _targets(self, e: TargetLanguagesSet) -> None:
        self.items["targetLanguages"] = list(e.languages)

    @applies(PartnerLevelPreferred)
    def _partner_level(self, e: PartnerLevelPreferred) -> None:
        self.items[f"partnerLevel:{e.language_id}"] = e.partner_level_id

    @applies(InterestsChosen)
    def _interests(self, e: InterestsChosen) -> None:
        item = {
            "motivations": "motivations",
            "topics": "topics",
            "learning_styles": "learningStyles",
            "learning_expectations": "learningExpectations",
        }[e.kind]
        self.items[item] = list(e.ids)

    @applies(PartnerPreferencesSet)
    def _partner(self, e: PartnerPreferencesSet) -> None:
        if e.gender is not None:
            self.items["partnerGender"] = e.gender
        if e.personality_ids is not None:
            self.items["partnerPersonalities"] = list(e.personality_ids)

    @applies(StudyPreferencesSet)
    def _study(self, e: StudyPreferencesSet) -> None:
        if e.communication_method is not None:
            self.items["communicationMethod"] = e.communication_method
        if e.group_size_ids is not None:
            self.items["groupSizes"] = list(e.group_size_ids)
        if e.daily_minutes is not None:
            self.items["dailyMinutes"] = e.daily_minutes

    @applies(ScheduleSet)
    def _schedule(self, e: ScheduleSet) -> None:
        self.items["schedules"] = list(e.schedules)

    @applies(OnboardingCompleted)
    def _completed(self, e: OnboardingCompleted) -> None:
        self.completed = True

    @applies(DataExported)
    def _exported(self, e: DataExported) -> None:
        pass

    @applies(SettingsChanged)
    def _settings(self, e: SettingsChanged) -> None:
        self.items[f"settings:{e.section}"] = e.values

    @applies(LanguageLevelAssessed)
    def _assessed(self, e: LanguageLevelAssessed) -> None:
        self.items[f"assessedLevel:{e.language_id}"] = (e.level, e.test_id)


def _known(catalogue: str, ids: list[int], code: str) -> None:
    unknown = reference.unknown_ids(catalogue, ids)  # type: ignore[arg-type]
    if unknown:
        raise RuleViolation(f"unknown {catalogue} id(s): {unknown}", code=code, unknown=unknown)


def _code(catalogue: str, raw: str, code: str) -> str:
    normalised = reference.normalize_code(catalogue, raw)  # type: ignore[arg-type]
    if normalised is None:
        raise RuleViolation(f"unknown {catalogue} code: {raw!r}", code=code)
    return normalised

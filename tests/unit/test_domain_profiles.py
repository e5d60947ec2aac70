"""Profile and onboarding rules, driven through the aggregate's public methods (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from domain.aggregate import Cause
from domain.errors import RuleViolation
from domain.profiles import (
    STEPS,
    BirthdaySet,
    BirthYearSet,
    EnglishNameSet,
    NativeLanguageSet,
    OnboardingCompleted,
    PartnerLevelPreferred,
    Profile,
    ProfileEvent,
    ResidenceSet,
    ScheduleEntry,
    SelfBioSet,
    TargetLanguage,
    TargetLanguagesSet,
    profile_id,
)

USER_ID = "5d7c1e2a-0b3f-4e6a-9c8d-7f6e5d4c3b2a"
THIS_YEAR = 2024
KOREAN, ENGLISH, JAPANESE = 1, 2, 3
BEGINNER, ADVANCED = 100, 104
PARTNER_LEVEL = 201
SEOUL = 1

Change = Callable[[Profile], None]


def cause() -> Cause:
    return Cause(occurred_at=datetime.now(UTC), correlation_id=uuid4(), actor_id="u")


def new_profile(user_id: str = USER_ID) -> Profile:
    profile = Profile(profile_id(user_id))
    profile.user_id = user_id
    return profile


def learning(
    language_id: int = ENGLISH, current: int = BEGINNER, target: int = ADVANCED
) -> TargetLanguage:
    return TargetLanguage(language_id=language_id, current_level_id=current, target_level_id=target)


def onboarded_except_completion() -> Profile:
    """Every onboarding item answered, as the SPA's five pages would save them."""
    profile = new_profile()
    profile.set_english_name(cause(), "Minji")
    profile.set_residence(cause(), SEOUL)
    profile.set_native_language(cause(), KOREAN)
    profile.set_language_levels(cause(), [learning()])
    profile.choose_interests(cause(), "motivations", [1, 2])
    profile.choose_interests(cause(), "topics", [3])
    profile.prefer_partner(cause(), gender="any", personality_ids=[1])
    profile.prefer_study(
        cause(), communication_method="video", group_size_ids=[1], daily_minutes="30"
    )
    profile.set_schedule(cause(), [ScheduleEntry(day_of_week="MONDAY", class_time="19:00")])
    return profile


def refused(action: Callable[[], object]) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        action()
    return caught.value


# -- identity of the stream ---------------------------------------------------------------


def test_profile_stream_id_is_derived_from_but_not_equal_to_the_user_id() -> None:
    assert profile_id(USER_ID) == profile_id(USER_ID)
    assert profile_id(USER_ID) != UUID(USER_ID)
    assert profile_id(USER_ID) != profile_id("another-user")


def test_every_recorded_event_names_the_user() -> None:
    profile = onboarded_except_completion()

    events = profile.collect()

    assert events
    assert {e.user_id for e in events if isinstance(e, ProfileEvent)} == {USER_ID}
    assert all(e.aggregate_id == profile_id(USER_ID) for e in events)


# -- personal data ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        (EnglishNameSet, "english_name"),
        (SelfBioSet, "bio"),
        (BirthYearSet, "birth_year"),
        (BirthdaySet, "birthday"),
    ],
)
def test_personal_fields_are_marked_personal(event_type: type[ProfileEvent], field: str) -> None:
    assert event_type.personal_fields() == (field,)


def test_non_personal_events_have_no_personal_fields() -> None:
    assert ResidenceSet.personal_fields() == ()
    assert NativeLanguageSet.personal_fields() == ()


def test_personal_data_is_protected_by_the_users_key_not_the_profile_stream() -> None:
    profile = new_profile()
    profile.set_english_name(cause(), "Minji")
    profile.set_bio(cause(), "I like hiking.")
    profile.set_birth_year(cause(), 1995, current_year=THIS_YEAR)
    profile.set_birthday(cause(), "03-14")

    subjects = {event.subject() for event in profile.collect()}

    assert subjects == {USER_ID}


# -- onboarding progress ------------------------------------------------------------------


def test_a_new_profile_is_missing_every_onboarding_item() -> None:
    profile = new_profile()

    assert profile.missing() == [item for _, items in STEPS for item in items]
    assert profile.steps_done() == [False] * len(STEPS)


def test_a_step_counts_as_done_only_when_all_its_items_are_answered() -> None:
    profile = new_profile()
    profile.set_english_name(cause(), "Minji")

    assert profile.steps_done()[0] is False

    profile.set_residence(cause(), SEOUL)

    assert profile.steps_done() == [True, False, False, False, False]
    assert "englishName" not in profile.missing()
    assert "location" not in profile.missing()


def test_every_step_is_done_once_all_pages_are_saved() -> None:
    profile = onboarded_except_completion()

    assert profile.missing() == []
    assert profile.steps_done() == [True] * len(STEPS)


def test_completing_onboarding_with_items_missing_is_refused_and_names_them() -> None:
    profile = new_profile()
    profile.set_english_name(cause(), "Minji")
    profile.set_residence(cause(), SEOUL)

    error = refused(lambda: profile.complete_onboarding(cause()))

    assert error.code == "ONBOARDING_INCOMPLETE"
    assert error.details["missing"][:2] == ["nativeLanguage", "targetLanguages"]
    assert "englishName" not in error.details["missing"]
    assert profile.completed is False


def test_completing_a_fully_answered_onboarding_records_it() -> None:
    profile = onboarded_except_completion()
    profile.collect()

    profile.complete_onboarding(cause())

    assert profile.completed is True
    [event] = profile.collect()
    assert isinstance(event, OnboardingCompleted)


def test_completing_onboarding_twice_records_it_once() -> None:
    profile = onboarded_except_completion()
    profile.complete_onboarding(cause())
    profile.collect()

    profile.complete_onboarding(cause())

    assert profile.collect() == []


def test_completing_onboarding_keeps_the_native_language() -> None:
    profile = onboarded_except_completion()

    profile.complete_onboarding(cause())

    assert profile.items["nativeLanguage"] == KOREAN
    assert "nativeLanguage" not in profile.missing()


# -- re-saving ----------------------------------------------------------------------------


def test_re_saving_the_same_answer_records_nothing() -> None:
    profile = onboarded_except_completion()
    profile.collect()

    profile.set_english_name(cause(), "  Minji  ")
    profile.set_residence(cause(), SEOUL)
    profile.set_native_language(cause(), KOREAN)
    profile.set_language_levels(cause(), [learning()])
    profile.choose_interests(cause(), "motivations", [2, 1, 2])
    profile.prefer_partner(cause(), gender="ANY", personality_ids=[1])
    profile.prefer_study(
        cause(), communication_method="VIDEO", group_size_ids=[1], daily_minutes="MINUTES_30"
    )
    profile.set_schedule(cause(), [ScheduleEntry(day_of_week="MONDAY", class_time="19:00")])

    assert profile.collect() == []


def test_changing_an_answer_records_the_new_value() -> None:
    profile = new_profile()
    profile.set_english_name(cause(), "Minji")
    profile.collect()

    profile.set_english_name(cause(), "Jenny")

    [event] = profile.collect()
    assert isinstance(event, EnglishNameSet)
    assert event.english_name == "Jenny"
    assert profile.items["englishName"] == "Jenny"


def test_a_later_save_does_not_wipe_an_earlier_one() -> None:
    profile = new_profile()
    profile.set_native_language(cause(), KOREAN)

    profile.set_english_name(cause(), "Minji")
    profile.set_residence(cause(), SEOUL)

    assert profile.items["nativeLanguage"] == KOREAN


# -- english name, birth year -------------------------------------------------------------


@pytest.mark.parametrize("name", ["M", " M ", "x" * 51, ""])
def test_an_english_name_outside_2_to_50_characters_is_refused(name: str) -> None:
    profile = new_profile()

    error = refused(lambda: profile.set_english_name(cause(), name))

    assert error.code == "INVALID_ENGLISH_NAME"
    assert profile.collect() == []


@pytest.mark.parametrize("name", ["Mo", "x" * 50])
def test_an_english_name_of_2_to_50_characters_is_accepted(name: str) -> None:
    profile = new_profile()

    profile.set_english_name(cause(), name)

    assert profile.items["englishName"] == name


def test_the_english_name_is_saved_without_surrounding_spaces() -> None:
    profile = new_profile()

    profile.set_english_name(cause(), "  Minji ")

    [event] = profile.collect()
    assert isinstance(event, EnglishNameSet)
    assert event.english_name == "Minji"


@pytest.mark.parametrize("year", [THIS_YEAR - 121, THIS_YEAR - 9, THIS_YEAR])
def test_a_birth_year_outside_10_to_120_years_ago_is_refused(year: int) -> None:
    profile = new_profile()

    error = refused(lambda: profile.set_birth_year(cause(), year, current_year=THIS_YEAR))

    assert error.code == "INVALID_BIRTH_YEAR"


@pytest.mark.parametrize("year", [THIS_YEAR - 120, THIS_YEAR - 10])
def test_a_birth_year_at_the_edges_of_the_range_is_accepted(year: int) -> None:
    profile = new_profile()

    profile.set_birth_year(cause(), year, current_year=THIS_YEAR)

    assert profile.items["birthYear"] == str(year)


# -- reference ids and codes --------------------------------------------------------------


@pytest.mark.parametrize("location", [0, 54, -1])
def test_an_unknown_location_is_refused(location: int) -> None:
    profile = new_profile()

    error = refused(lambda: profile.set_residence(cause(), location))

    assert error.code == "UNKNOWN_LOCATION"
    assert error.details["unknown"] == [location]


def test_the_newest_location_is_known() -> None:
    profile = new_profile()

    profile.set_residence(cause(), 53)

    assert profile.items["location"] == 53


@pytest.mark.parametrize("language", [0, 17])
def test_an_unknown_native_language_is_refused(language: int) -> None:
    profile = new_profile()

    error = refused(lambda: profile.set_native_language(cause(), language))

    assert error.code == "UNKNOWN_LANGUAGE"


def test_an_unknown_target_language_is_refused() -> None:
    profile = new_profile()

    error = refused(lambda: profile.set_language_levels(cause(), [learning(language_id=99)]))

    assert error.code == "UNKNOWN_LANGUAGE"
    assert error.details["unknown"] == [99]


@pytest.mark.parametrize(("current", "target"), [(99, ADVANCED), (BEGINNER, 107), (BEGINNER, 0)])
def test_an_unknown_language_level_is_refused(current: int, target: int) -> None:
    profile = new_profile()

    error = refused(
        lambda: profile.set_language_levels(cause(), [learning(current=current, target=target)])
    )

    assert error.code == "UNKNOWN_LEVEL"
    assert error.details["languageId"] == ENGLISH


def test_choosing_no_languages_is_refused() -> None:
    error = refused(lambda: new_profile().set_language_levels(cause(), []))

    assert error.code == "NO_LANGUAGES"


def test_an_unknown_interest_is_refused() -> None:
    profile = new_profile()

    error = refused(lambda: profile.choose_interests(cause(), "topics", [1, 10]))

    assert error.code == "UNKNOWN_OPTION"
    assert error.details["unknown"] == [10]


def test_choosing_no_interests_is_refused() -> None:
    error = refused(lambda: new_profile().choose_interests(cause(), "motivations", []))

    assert error.code == "NOTHING_CHOSEN"
    assert error.details["kind"] == "motivations"


def test_interests_are_kept_sorted_without_duplicates() -> None:
    profile = new_profile()

    profile.choose_interests(cause(), "learning_styles", [3, 1, 3])

    assert profile.items["learningStyles"] == [1, 3]


@pytest.mark.parametrize(
    ("action", "code"),
    [
        (lambda p: p.set_gender(cause(), "robot"), "UNKNOWN_GENDER"),
        (lambda p: p.prefer_partner(cause(), gender="robot"), "UNKNOWN_GENDER"),
        (lambda p: p.prefer_partner(cause(), personality_ids=[6]), "UNKNOWN_OPTION"),
        (lambda p: p.prefer_study(cause(), communication_method="fax"), "UNKNOWN_METHOD"),
        (lambda p: p.prefer_study(cause(), group_size_ids=[5]), "UNKNOWN_OPTION"),
        (lambda p: p.prefer_study(cause(), daily_minutes="MINUTES_11"), "UNKNOWN_DAILY_MINUTES"),
    ],
)
def test_unknown_codes_and_options_are_refused(action: Change, code: str) -> None:
    profile = new_profile()

    error = refused(lambda: action(profile))

    assert error.code == code
    assert profile.collect() == []


def test_codes_are_saved_in_canonical_form() -> None:
    profile = new_profile()

    profile.set_gender(cause(), " female ")
    profile.prefer_study(cause(), communication_method="voice", daily_minutes="45")

    assert profile.items["gender"] == "FEMALE"
    assert profile.items["communicationMethod"] == "VOICE"
    assert profile.items["dailyMinutes"] == "MINUTES_45"


@pytest.mark.parametrize(
    "action",
    [
        lambda p: p.prefer_partner(cause(), personality_ids=[]),
        lambda p: p.prefer_study(cause(), group_size_ids=[]),
        lambda p: p.set_schedule(cause(), []),
    ],
)
def test_an_empty_choice_is_refused(action: Change) -> None:
    error = refused(lambda: action(new_profile()))

    assert error.code == "NOTHING_CHOSEN"


def test_duplicate_schedule_slots_are_saved_once() -> None:
    profile = new_profile()
    monday = ScheduleEntry(day_of_week="MONDAY", class_time="19:00")

    profile.set_schedule(cause(), [monday, monday])

    assert profile.items["schedules"] == [monday]


# -- native and target languages ----------------------------------------------------------


def test_a_target_language_cannot_be_the_native_language() -> None:
    profile = new_profile()
    profile.set_native_language(cause(), KOREAN)
    profile.collect()

    error = refused(
        lambda: profile.set_language_levels(cause(), [learning(), learning(language_id=KOREAN)])
    )

    assert error.code == "TARGET_IS_NATIVE"
    assert profile.collect() == []
    assert "targetLanguages" not in profile.items


def test_the_native_language_cannot_be_one_of_the_target_languages() -> None:
    profile = new_profile()
    profile.set_language_levels(cause(), [learning(language_id=ENGLISH)])

    error = refused(lambda: profile.set_native_language(cause(), ENGLISH))

    assert error.code == "TARGET_IS_NATIVE"


def test_partner_levels_become_partner_level_preferences_not_target_languages() -> None:
    profile = new_profile()

    profile.set_language_levels(
        cause(), [learning(language_id=JAPANESE, current=PARTNER_LEVEL, target=PARTNER_LEVEL)]
    )

    [event] = profile.collect()
    assert isinstance(event, PartnerLevelPreferred)
    assert (event.language_id, event.partner_level_id) == (JAPANESE, PARTNER_LEVEL)
    assert "targetLanguages" not in profile.items


def test_learner_and_partner_levels_in_one_save_are_recorded_separately() -> None:
    profile = new_profile()

    profile.set_language_levels(
        cause(),
        [learning(), learning(language_id=JAPANESE, current=PARTNER_LEVEL, target=203)],
    )

    targets, partner = profile.collect()
    assert isinstance(targets, TargetLanguagesSet)
    assert [t.language_id for t in targets.languages] == [ENGLISH]
    assert isinstance(partner, PartnerLevelPreferred)
    assert partner.partner_level_id == 203


def test_re_saving_the_same_partner_level_records_nothing() -> None:
    profile = new_profile()
    entry = learning(language_id=JAPANESE, current=PARTNER_LEVEL, target=PARTNER_LEVEL)
    profile.set_language_levels(cause(), [entry])
    profile.collect()

    profile.set_language_levels(cause(), [entry])

    assert profile.collect() == []


# -- replay -------------------------------------------------------------------------------


def test_replaying_the_history_reproduces_the_profile() -> None:
    profile = onboarded_except_completion()
    profile.set_bio(cause(), "I like hiking.")
    profile.complete_onboarding(cause())

    replayed = Profile.replay(profile.id, profile.collect())

    assert replayed is not None
    assert replayed.user_id == USER_ID
    assert replayed.items == profile.items
    assert replayed.completed is True
    assert replayed.version == profile.version
    assert replayed.missing() == []


def test_replaying_no_history_finds_no_profile() -> None:
    assert Profile.replay(profile_id(USER_ID), []) is None

"""Profile commands on their own: given a learner's history, when a command, then the
events it records or the error it refuses with (and nothing recorded)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from commands import profiles as cmd
from domain.errors import RuleViolation
from domain.profiles import (
    LanguageLevelAssessed,
    NativeLanguageSet,
    Profile,
    SelfBioSet,
    SettingsChanged,
    TargetLanguage,
    profile_id,
)
from tests.scenarios import Scenario, history

USER = str(uuid4())


def _learner(*steps: object) -> list[object]:
    def owned(profile: Profile) -> None:
        profile.user_id = USER

    return history(Profile, profile_id(USER), *steps, prepare=owned)  # type: ignore[arg-type]


def test_a_bio_on_a_new_profile_is_recorded_for_its_user(scenario: Scenario) -> None:
    events = scenario.when(cmd.set_bio, cmd.SetBio(user_id=USER, bio="I like hiking"))

    assert [type(e) for e in events] == [SelfBioSet]
    assert events[0].user_id == USER and events[0].bio == "I like hiking"  # type: ignore[attr-defined]


def test_saving_the_same_bio_again_records_nothing(scenario: Scenario) -> None:
    scenario.given(_learner(lambda p, c: p.set_bio(c, "I like hiking")))  # type: ignore[arg-type]

    assert scenario.when(cmd.set_bio, cmd.SetBio(user_id=USER, bio="I like hiking")) == []


def test_a_native_language_that_is_a_target_language_is_refused(scenario: Scenario) -> None:
    english = TargetLanguage(language_id=1, current_level_id=101, target_level_id=101)
    scenario.given(_learner(lambda p, c: p.set_language_levels(c, [english])))  # type: ignore[arg-type]
    head = scenario.store.max_position()

    with pytest.raises(RuleViolation) as refused:
        scenario.when(cmd.set_native_language, cmd.SetNativeLanguage(user_id=USER, language_id=1))

    assert refused.value.code == "TARGET_IS_NATIVE"
    assert scenario.store.max_position() == head


def test_completing_an_unfinished_onboarding_names_what_is_missing(scenario: Scenario) -> None:
    scenario.given(_learner(lambda p, c: p.set_native_language(c, 2)))  # type: ignore[arg-type]

    with pytest.raises(RuleViolation) as refused:
        scenario.when(cmd.complete_onboarding, cmd.CompleteOnboarding(user_id=USER))

    assert refused.value.code == "ONBOARDING_INCOMPLETE"
    missing = refused.value.details["missing"]
    assert "englishName" in missing and "nativeLanguage" not in missing


def test_settings_changes_merge_into_the_saved_section_with_defaults(scenario: Scenario) -> None:
    first = cmd.ChangeSettings(user_id=USER, section="notifications",
                               changes={"pushChat": False})  # fmt: skip
    values = scenario.result(cmd.change_settings, first)["values"]
    assert values["pushChat"] is False and values["pushMatching"] is True  # a default

    events = scenario.when(cmd.change_settings, cmd.ChangeSettings(
        user_id=USER, section="notifications", changes={"pushMatching": False}))  # fmt: skip

    assert [type(e) for e in events] == [SettingsChanged]
    saved = events[0].values  # type: ignore[attr-defined]
    assert saved["pushChat"] is False and saved["pushMatching"] is False  # kept, then changed


def test_invalid_settings_are_refused_and_record_nothing(scenario: Scenario) -> None:
    bad = cmd.ChangeSettings(user_id=USER, section="notifications",
                             changes={"quietHoursStart": "25:99"})  # fmt: skip

    with pytest.raises(RuleViolation) as refused:
        scenario.when(cmd.change_settings, bad)

    assert refused.value.code == "INVALID_SETTINGS"
    assert scenario.store.max_position() == 0


def test_an_assessed_level_needs_a_profile_and_is_recorded_once_per_test(
    scenario: Scenario,
) -> None:
    level = cmd.RecordAssessedLevel(user_id=USER, language_id=2, level="B2", test_id=7)
    assert scenario.when(cmd.record_assessed_level, level) == []  # no profile yet

    scenario.given(_learner(lambda p, c: p.set_native_language(c, 1)))  # type: ignore[arg-type]
    events = scenario.when(cmd.record_assessed_level, level)
    assert [type(e) for e in events] == [LanguageLevelAssessed]
    assert scenario.when(cmd.record_assessed_level, level) == []  # the same test again


def test_native_language_is_recorded_as_such(scenario: Scenario) -> None:
    command = cmd.SetNativeLanguage(user_id=USER, language_id=3)
    events = scenario.when(cmd.set_native_language, command)
    assert [type(e) for e in events] == [NativeLanguageSet]


def test_input_a_command_refuses_is_a_rule_violation_naming_the_field() -> None:
    with pytest.raises(RuleViolation) as refused:
        cmd.PreferStudy(user_id=USER, daily_minutes="-520005644539970977792")
    assert refused.value.code == "INVALID_COMMAND"
    assert refused.value.details == {"fields": ["daily_minutes"]}

"""Level-test rules and scoring without I/O: the aggregate's handling of late or repeated
results, the one score->CEFR table, the measured features, and the calibrated scorer on
learner text it was not fitted on."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.aggregate import Cause
from domain.errors import Conflict, NotFound, RuleViolation
from domain.level_tests import LevelTest, level_test_key
from workers import cefr_scorer
from workers.cefr_features import mattr, speech_features, text_features

CAUSE = Cause(occurred_at=datetime(2026, 11, 26, tzinfo=UTC), correlation_id=uuid4())
USER = "learner-1"


def started() -> LevelTest:
    test = LevelTest(level_test_key(7))
    test.start(CAUSE, test_id=7, user_id=USER, language="en", mode="standard")
    return test


def transcript(test: LevelTest, question: int, recording: str) -> bool:
    return test.record_transcript(CAUSE, question_id=question, recording=recording, text="hi",
                                  words="[]", language="en", duration=3.0, model="m",
                                  model_version="v")  # fmt: skip


def answer(test: LevelTest, question: int, recording: str) -> None:
    test.record_answer(CAUSE, USER, question_id=question, recording=recording,
                       media_type="audio/webm", duration=3.0, size=10)  # fmt: skip


def test_a_late_transcript_of_a_replaced_recording_is_ignored() -> None:
    test = started()
    answer(test, 1, "first")
    answer(test, 1, "second")  # re-recorded
    assert transcript(test, 1, "first") is False
    assert transcript(test, 1, "second") is True
    assert transcript(test, 1, "second") is False  # a redelivered job
    assert test.transcribed


def test_analysis_needs_an_answer_and_assessment_needs_every_transcript() -> None:
    test = started()
    with pytest.raises(RuleViolation):
        test.request_analysis(CAUSE, USER)
    answer(test, 1, "a")
    answer(test, 2, "b")
    test.request_analysis(CAUSE, USER)
    test.request_analysis(CAUSE, USER)  # the SPA may call analyze twice
    result = {"level": "B1", "overall": 60, "scores": {}, "strengths": [], "improvements": [],
              "feedback": "", "confidence": 50, "features": {}, "scorer_version": "t",
              "model_versions": {}}  # fmt: skip
    transcript(test, 1, "a")
    assert test.assess(CAUSE, result) is False  # answer 2 is not transcribed yet
    transcript(test, 2, "b")
    assert test.assess(CAUSE, result) is True
    assert test.assess(CAUSE, result) is False  # once
    with pytest.raises(Conflict):
        answer(test, 1, "c")  # completed


def test_only_the_owner_reaches_the_test() -> None:
    test = started()
    with pytest.raises(NotFound):
        test.record_answer(CAUSE, "intruder", question_id=1, recording="x",
                           media_type="audio/wav", duration=1.0, size=1)  # fmt: skip
    with pytest.raises(RuleViolation):
        answer(test, 9, "x")  # no such question


def test_one_table_maps_scores_and_levels_both_ways() -> None:
    expected = {0: "A1", 39: "A1", 40: "A2", 54: "A2", 55: "B1", 69: "B1", 70: "B2",
                79: "B2", 80: "C1", 89: "C1", 90: "C2", 100: "C2"}  # fmt: skip
    assert {score: cefr_scorer.level_for(score) for score in expected} == expected
    for step in range(100, 601):
        value = step / 100
        level = cefr_scorer.level_for(cefr_scorer.overall_for(value))
        assert level == ["A1", "A2", "B1", "B2", "C1", "C2"][min(max(round(value) - 1, 0), 5)]


def test_features_measure_what_they_say() -> None:
    assert mattr(["a", "b", "c"]) == 1.0 and mattr(["a"] * 30) == pytest.approx(1 / 25)
    simple = text_features("I like cats. I like dogs. I like my cat.", "en")
    rich = text_features(
        "Although commuting is exhausting, I appreciate the opportunity to read, which "
        "otherwise I would neglect because my schedule is demanding.", "en")  # fmt: skip
    assert rich["rare_share"] > simple["rare_share"]
    assert rich["sentence_length"] > simple["sentence_length"]
    assert rich["subordination"] > simple["subordination"]
    timed = speech_features([["a", 0.0, 0.3, 0.9], ["b", 0.35, 0.6, 0.8], ["c", 1.6, 1.9, 0.7]])
    assert timed["pauses_per_minute"] > 0 and timed["mean_length_of_run"] == 1.5
    assert timed["clarity"] == pytest.approx(0.8)


def test_the_scorer_orders_beginner_and_advanced_answers() -> None:
    beginner = cefr_scorer.assess([cefr_scorer.Answer(
        "Describe your family.", "My family is small. I have a brother. He is a student.", [],
    )], "en")  # fmt: skip
    advanced = cefr_scorer.assess([cefr_scorer.Answer(
        "Technology and education?",
        "Although technology has undeniably broadened access to education, I would argue "
        "that its benefits depend on how deliberately teachers integrate it. For instance, "
        "online platforms enable students in remote regions to attend lectures, whereas "
        "excessive screen time may undermine concentration. Consequently, schools should "
        "cultivate critical habits rather than merely distributing devices.", [],
    )], "en")  # fmt: skip
    assert beginner["overall"] < advanced["overall"]
    levels = ["A1", "A2", "B1", "B2", "C1", "C2"]
    assert beginner["level"] in ("A1", "A2")
    assert levels.index(advanced["level"]) - levels.index(beginner["level"]) >= 2
    assert cefr_scorer.level_for(advanced["overall"]) == advanced["level"]
    assert beginner["confidence"] < advanced["confidence"]  # less speech, less evidence

"""Learning-analytics rules on a hand-made history: local days, weekly rates, consistency,
level pace, and the learning pattern built from them (numbers worked out by hand)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from api.learning_pattern import describe
from domain.analytics import (
    Activity,
    LevelResult,
    SessionFact,
    consistency,
    months_per_level,
    per_week,
    trend,
    weeks,
)
from projections.analytics import quarter_hour

SEOUL = ZoneInfo("Asia/Seoul")
MONDAY = date(2030, 3, 4)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    """A moment given in Seoul's wall-clock time."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SEOUL)


def _result(test_id: int, at: datetime, level: str, scores: dict[str, int], *,
            strong: tuple[str, ...] = (), weak: tuple[str, ...] = ()) -> LevelResult:  # fmt: skip
    return LevelResult(test_id, at, "en", level, sum(scores.values()) // len(scores), scores,
                       strong, weak)  # fmt: skip


def _history() -> Activity:
    """Four sessions (three hosted), five messages and two level tests in two weeks."""
    sessions = [
        SessionFact(_at(MONDAY, 20), 30, "VIDEO", True, "p1"),
        SessionFact(_at(MONDAY + timedelta(days=1), 20), 45, "AUDIO", True, "p1"),
        SessionFact(_at(MONDAY + timedelta(days=7), 9), 20, "GROUP", False, None),
        SessionFact(_at(MONDAY + timedelta(days=8), 21), 25, "VIDEO", True, "p2"),
    ]
    slots = [(quarter_hour(_at(MONDAY + timedelta(days=6), 23, 50)), 2),
             (quarter_hour(_at(MONDAY + timedelta(days=8), 10, 5)), 3)]  # fmt: skip
    levels = [
        _result(1, _at(MONDAY - timedelta(days=10), 12), "A2",
                {"fluency": 40, "grammar": 40}),
        _result(2, _at(MONDAY + timedelta(days=5), 12), "B1",
                {"fluency": 62, "grammar": 38}, strong=("fluency",), weak=("grammar",)),
    ]  # fmt: skip
    return Activity(SEOUL, sessions, slots, levels)


def test_a_message_late_in_the_evening_counts_on_the_learners_day() -> None:
    late = _at(MONDAY, 23, 50)  # 14:50 UTC: the same date in UTC, but not always
    assert quarter_hour(late) == datetime(2030, 3, 4, 14, 45, tzinfo=UTC)
    early = _at(MONDAY, 0, 20)  # 15:20 UTC on Sunday
    activity = Activity(SEOUL, [], [(quarter_hour(early), 4)], [])
    assert activity.messages_by_day() == {MONDAY: 4}


def test_days_and_weeks_sum_sessions_minutes_and_messages() -> None:
    days = _history().days(MONDAY, MONDAY + timedelta(days=9))
    assert [(d.sessions, d.minutes, d.messages) for d in days] == [
        (1, 30, 0), (1, 45, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 2),
        (1, 20, 0), (1, 25, 3), (0, 0, 0),
    ]  # fmt: skip
    assert [(w.week_start, w.sessions, w.minutes, w.messages, w.active_days)
            for w in weeks(days)] == [(MONDAY, 2, 75, 2, 3),
                                      (MONDAY + timedelta(days=7), 2, 45, 3, 2)]  # fmt: skip


def test_consistency_and_rates_are_measured_from_the_first_active_day() -> None:
    active = {MONDAY, MONDAY + timedelta(days=2)}
    # Active on 2 of the 4 days from Monday (the first active day) to Thursday.
    assert consistency(active, MONDAY - timedelta(days=20), MONDAY + timedelta(days=3)) == 0.5
    assert consistency(set(), MONDAY, MONDAY) is None
    assert per_week(3, 3) == 3.0  # a first week counts as a week
    assert per_week(6, 14) == 3.0
    assert per_week(1, None) is None


def test_level_pace_and_score_trends() -> None:
    history = _history()
    assert months_per_level(history.levels) == 0.5  # A2 -> B1 in 15 days
    assert months_per_level(history.levels[:1]) is None
    assert (trend(62, 40), trend(38, 40), trend(50, 60), trend(50, None)) == (
        "improving", "stable", "declining", None)  # fmt: skip


def test_the_learning_pattern_reads_the_measured_history() -> None:
    now = _at(MONDAY + timedelta(days=9), 18)
    pattern = describe(_history(), now, 1, "en")
    habits = pattern["studyHabits"]
    # 4 sessions over the 10 days since the first active day (Monday to now's Wednesday).
    assert habits["sessionsPerWeek"] == 2.8
    assert habits["averageSessionDuration"] == 30  # 120 minutes / 4
    assert habits["consistency"] == 0.5  # 5 active days of 10
    assert habits["messagesPerWeek"] == 3.5  # 5 messages over 10 days
    assert habits["mostProductiveTime"] == "evening"  # 100 of the 120 minutes
    progress = pattern["progress"]
    assert (progress["currentLevel"], progress["startingLevel"], progress["levelsGained"]) == (
        "B1", "A2", 1)  # fmt: skip
    assert progress["monthsLearning"] == 1  # first activity (a level test) 19 days ago
    assert progress["projection"] == {"nextLevel": "B2", "estimatedMonths": 1}
    assert [(s["key"], s["score"], s["trend"]) for s in pattern["strengths"]] == [
        ("fluency", 62, "improving")]  # fmt: skip
    weak = pattern["weaknesses"]
    assert [(w["key"], w["score"], w["trend"]) for w in weak] == [("grammar", 38, "stable")]
    assert len(weak[0]["recommendations"]) == 2
    style = pattern["learningStyle"]
    assert style["engagement"] == {"videoSessions": 3, "audioSessions": 1, "textSessions": 2}
    assert style["primary"] == ["Video sessions"]
    engagement = pattern["engagement"]
    assert (engagement["initiativeLevel"], engagement["partners"], engagement["minutesPracticed"],
            engagement["overallScore"]) == (75, 2, 120, 50)  # fmt: skip
    insights = pattern["insights"]
    assert "English: from A2 to B1" in insights["keyFindings"]
    assert "Focus on Grammar: Join sentences with because, although, when" in insights[
        "recommendations"]  # fmt: skip
    # 6 sessions to the next count achievement at 2.8 a week: 15 days.
    sessions_milestone = insights["milestones"][0]
    assert sessions_milestone["targetDate"] == (now.date() + timedelta(days=15)).isoformat()
    assert sessions_milestone["priority"] == "medium"
    path = pattern["personalizedPath"]
    assert path["shortTerm"][0]["goal"] == "3 sessions a week"
    assert [p["goal"] for p in path["mediumTerm"]] == ["Reach B2 in English"]
    assert path["longTerm"][0]["estimatedMonths"] == 1  # two levels at 0.5 months each


def test_nothing_measured_reads_as_unknown_not_as_made_up_numbers() -> None:
    pattern = describe(Activity(SEOUL, [], [], []), _at(MONDAY, 12), 3, "ko")
    habits = pattern["studyHabits"]
    assert habits["sessionsPerWeek"] is None and habits["consistency"] is None
    assert habits["mostProductiveTime"] is None
    assert pattern["progress"]["currentLevel"] is None
    assert pattern["progress"]["monthsLearning"] is None
    assert pattern["strengths"] == [] and pattern["weaknesses"] == []
    assert pattern["learningStyle"]["engagement"] == {"videoSessions": 0, "audioSessions": 0,
                                                      "textSessions": 0}  # fmt: skip
    assert pattern["insights"]["keyFindings"] == [] and pattern["insights"]["milestones"] == []
    assert pattern["personalizedPath"]["mediumTerm"] == []

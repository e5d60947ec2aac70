"""Achievements from facts: progress recomputed from what happened, unlocked once, claimed
once; the numbers below are worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from domain.achievement_catalog import BY_KEY, DEFINITIONS
from domain.achievements import (
    AchievementProgressed,
    AchievementRewardClaimed,
    Achievements,
    AchievementUnlocked,
    Facts,
    LevelFact,
    achievements_id,
    fullest_week,
    levels_gained,
    longest_run,
    measures,
)
from domain.aggregate import Cause
from domain.errors import Conflict

USER = "user-1"
NOW = datetime(2030, 3, 4, 12, tzinfo=UTC)
MONDAY = date(2030, 3, 4)


def _cause() -> Cause:
    return Cause(occurred_at=NOW, correlation_id=uuid4(), actor_id="policy.test")


def _fresh() -> Achievements:
    return Achievements(achievements_id(USER))


def _unlocked(events: list[object]) -> list[str]:
    return [e.key for e in events if isinstance(e, AchievementUnlocked)]


def test_the_longest_run_of_days_is_counted_whatever_the_order() -> None:
    days = [MONDAY + timedelta(days=n) for n in (6, 0, 1, 2, 4, 5)]
    assert longest_run(days) == 3  # Mon-Wed and Fri-Sun are both three days
    assert longest_run([]) == 0


def test_a_perfect_week_needs_every_day_of_one_monday_to_sunday_week() -> None:
    thursday_to_wednesday = [MONDAY + timedelta(days=n) for n in range(3, 10)]
    assert longest_run(thursday_to_wednesday) == 7
    assert fullest_week(thursday_to_wednesday) == 4  # Thu, Fri, Sat, Sun
    assert fullest_week([MONDAY + timedelta(days=n) for n in range(7)]) == 7


def test_levels_gained_compare_with_the_first_result_of_the_same_language() -> None:
    jan, mar, may = (datetime(2030, m, 1, tzinfo=UTC) for m in (1, 3, 5))
    english = [LevelFact("en", 4, mar), LevelFact("en", 2, jan), LevelFact("en", 3, may)]
    assert levels_gained(english) == 2  # first A2 (Jan), best B2 (Mar)
    assert levels_gained([*english, LevelFact("ko", 5, jan)]) == 2
    assert levels_gained([]) == 0


def test_measures_come_from_the_facts() -> None:
    facts = Facts(
        sessions={"a": (30, MONDAY), "b": (45, MONDAY + timedelta(days=1)),
                  "c": (20, MONDAY + timedelta(days=3))},
        partners={"p1", "p2"},
        levels={1: LevelFact("en", 2, NOW), 2: LevelFact("en", 3, NOW + timedelta(days=9))},
    )  # fmt: skip
    assert measures(facts) == {"sessions": 3, "minutes": 95, "best_streak": 2,
                               "best_week_days": 3, "partners": 2, "levels_gained": 1,
                               "best_level": 3}  # fmt: skip


def test_a_session_counted_twice_changes_nothing_the_second_time() -> None:
    achievements = _fresh()
    achievements.count_session(_cause(), user_id=USER, session_id="s1", minutes=30, day=MONDAY)
    first = achievements.collect()
    assert "first_session" in _unlocked(first)
    progressed = {e.key: e.current for e in first if isinstance(e, AchievementProgressed)}
    assert progressed["session_10"] == 1 and progressed["study_hours_10"] == 30
    achievements.count_session(_cause(), user_id=USER, session_id="s1", minutes=30, day=MONDAY)
    assert achievements.collect() == []


def test_an_achievement_unlocks_once_and_progress_stops_at_its_target() -> None:
    achievements = _fresh()
    unlocked: list[str] = []
    for n in range(12):
        achievements.count_session(_cause(), user_id=USER, session_id=f"s{n}", minutes=10,
                                   day=MONDAY + timedelta(days=n))  # fmt: skip
        unlocked += _unlocked(achievements.collect())
    assert unlocked.count("first_session") == 1
    assert sorted(unlocked) == ["first_session", "perfect_week", "session_10", "streak_7"]
    assert achievements.progress["session_10"] == 10  # capped at the target
    assert achievements.progress["session_50"] == 12
    assert achievements.progress["study_hours_10"] == 120


def test_partners_count_once_each_and_never_oneself() -> None:
    achievements = _fresh()
    for partner in ("p1", "p1", USER, "p2"):
        achievements.count_partner(_cause(), user_id=USER, partner_id=partner)
    events = achievements.collect()
    assert _unlocked(events) == ["first_friend"]
    assert achievements.progress["friends_5"] == 2


def test_level_achievements_follow_the_cefr_results() -> None:
    achievements = _fresh()
    achievements.count_level(_cause(), user_id=USER, test_id=1, language="en", level="A2",
                             assessed_at=NOW)  # fmt: skip
    assert _unlocked(achievements.collect()) == []
    achievements.count_level(_cause(), user_id=USER, test_id=2, language="en", level="B1",
                             assessed_at=NOW + timedelta(days=30))  # fmt: skip
    assert sorted(_unlocked(achievements.collect())) == ["level_b1", "level_up_first"]
    assert achievements.progress["level_c1"] == 3


def test_a_reward_is_claimed_once_and_only_when_unlocked() -> None:
    achievements = _fresh()
    with pytest.raises(Conflict) as refused:
        achievements.claim(_cause(), user_id=USER, key="first_session")
    assert refused.value.code == "ACHIEVEMENT_NOT_COMPLETED"
    achievements.count_session(_cause(), user_id=USER, session_id="s1", minutes=5, day=MONDAY)
    achievements.collect()
    achievements.claim(_cause(), user_id=USER, key="first_session")
    claimed = achievements.collect()
    assert [(type(e), e.xp) for e in claimed if isinstance(e, AchievementRewardClaimed)] == [
        (AchievementRewardClaimed, 100)
    ]
    with pytest.raises(Conflict) as again:
        achievements.claim(_cause(), user_id=USER, key="first_session")
    assert again.value.code == "ACHIEVEMENT_ALREADY_CLAIMED"


def test_facts_go_only_to_their_own_users_aggregate() -> None:
    with pytest.raises(ValueError, match="another user"):
        _fresh().count_partner(_cause(), user_id="someone-else", partner_id="p1")


def test_every_shipped_achievement_can_be_reached() -> None:
    """Each target is within what its measure can reach (no early_adopter without one)."""
    unbounded = 10**6
    reachable = {"sessions": unbounded, "minutes": unbounded, "best_streak": unbounded,
                 "best_week_days": 7, "partners": unbounded, "levels_gained": 5,
                 "best_level": 6}  # fmt: skip
    assert len(DEFINITIONS) == len(BY_KEY) == 14
    for definition in DEFINITIONS:
        assert 1 <= definition.target <= reachable[definition.metric], definition.key
        assert definition.title.ko and definition.title.en and definition.description.en

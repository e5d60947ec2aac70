"""Achievements: progress a learner earns by what they do, derived on the server from events.

One ``Achievements`` aggregate per user keeps the facts the achievements are measured on:
each completed session (its minutes and the user's local day), each matched partner, each
level-test result. A fact is keyed by what it describes (session, partner, test), so an
event delivered twice, or two events telling the same fact, count once. After a new fact
every definition's progress is recomputed from all facts (absolute, never incremented), and
an achievement whose target is reached is unlocked exactly once. Nothing here can be set by
a client: the only user command is claiming the reward of an unlocked achievement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID, uuid5

from pydantic import Field

from domain.achievement_catalog import BY_KEY, DEFINITIONS, Metric
from domain.aggregate import Aggregate, Cause, applies
from domain.errors import Conflict
from domain.events import DomainEvent
from domain.level_tests import CEFR_LEVELS, TEST_ID_LIMIT

ACHIEVEMENTS_NAMESPACE = UUID("c6f2a9d4-1b7e-4e53-9a08-5d3b7c1e2f64")
LEVEL = f"^({'|'.join(CEFR_LEVELS)})$"


def achievements_id(user_id: str) -> UUID:
    return uuid5(ACHIEVEMENTS_NAMESPACE, f"achievements|{user_id}")


def user_achievement_id(user_id: str, key: str) -> str:
    """The id of one user's progress on one achievement (what claim-reward names)."""
    return str(uuid5(ACHIEVEMENTS_NAMESPACE, f"{user_id}|{key}"))


class SessionCounted(DomainEvent):
    """A session the user completed; ``day`` is its start's date in the user's zone."""

    topic = "achievements.SessionCounted"

    user_id: str = Field(max_length=36)
    session_id: str = Field(max_length=36)
    minutes: int = Field(ge=1, le=240)
    day: date


class PartnerCounted(DomainEvent):
    topic = "achievements.PartnerCounted"

    user_id: str = Field(max_length=36)
    partner_id: str = Field(max_length=36)


class LevelCounted(DomainEvent):
    topic = "achievements.LevelCounted"

    user_id: str = Field(max_length=36)
    test_id: int = Field(ge=1, lt=TEST_ID_LIMIT)
    language: str = Field(max_length=5)
    level: str = Field(pattern=LEVEL)
    assessed_at: datetime


class AchievementProgressed(DomainEvent):
    topic = "achievements.AchievementProgressed"

    user_id: str = Field(max_length=36)
    key: str = Field(max_length=40)
    previous: int = Field(ge=0)
    current: int = Field(ge=0)
    target: int = Field(ge=1)


class AchievementUnlocked(DomainEvent):
    topic = "achievements.AchievementUnlocked"

    user_id: str = Field(max_length=36)
    key: str = Field(max_length=40)
    tier: str = Field(max_length=12)
    xp_reward: int = Field(ge=0)


class AchievementRewardClaimed(DomainEvent):
    topic = "achievements.AchievementRewardClaimed"

    user_id: str = Field(max_length=36)
    key: str = Field(max_length=40)
    xp: int = Field(ge=0)


@dataclass(frozen=True)
class LevelFact:
    language: str
    rank: int
    """CEFR level as a number: A1 = 1 ... C2 = 6."""
    assessed_at: datetime


@dataclass
class Facts:
    """What a user's achievements are measured on."""

    sessions: dict[str, tuple[int, date]] = field(default_factory=dict)
    """Session id -> (minutes, local day)."""
    partners: set[str] = field(default_factory=set)
    levels: dict[int, LevelFact] = field(default_factory=dict)
    """Test id -> result."""


def longest_run(days: Iterable[date]) -> int:
    """The most consecutive days in ``days``."""
    present = set(days)
    best = 0
    for day in present:
        if day - timedelta(days=1) in present:
            continue  # not the first day of a run
        length = 1
        while day + timedelta(days=length) in present:
            length += 1
        best = max(best, length)
    return best


def fullest_week(days: Iterable[date]) -> int:
    """The most distinct days falling in one Monday-to-Sunday week."""
    weeks = Counter(day - timedelta(days=day.weekday()) for day in set(days))
    return max(weeks.values(), default=0)


def levels_gained(levels: Iterable[LevelFact]) -> int:
    """The most CEFR levels any language's best result lies above its first result."""
    by_language: dict[str, list[LevelFact]] = {}
    for fact in levels:
        by_language.setdefault(fact.language, []).append(fact)
    gains = [
        max(f.rank for f in facts) - min(facts, key=lambda f: f.assessed_at).rank
        for facts in by_language.values()
    ]
    return max(gains, default=0)


def measures(facts: Facts) -> dict[Metric, int]:
    days = [day for _, day in facts.sessions.values()]
    return {
        "sessions": len(facts.sessions),
        "minutes": sum(minutes for minutes, _ in facts.sessions.values()),
        "best_streak": longest_run(days),
        "best_week_days": fullest_week(days),
        "partners": len(facts.partners),
        "levels_gained": levels_gained(facts.levels.values()),
        "best_level": max((f.rank for f in facts.levels.values()), default=0),
    }


class Achievements(Aggregate):
    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.facts = Facts()
        self.progress: dict[str, int] = {}
        self.unlocked: set[str] = set()
        self.claimed: set[str] = set()

    def count_session(
        self, cause: Cause, *, user_id: str, session_id: str, minutes: int, day: date
    ) -> None:
        self._require_user(user_id)
        if session_id not in self.facts.sessions:
            self._record(SessionCounted, cause, user_id=user_id, session_id=session_id,
                         minutes=minutes, day=day)  # fmt: skip
            self._advance(cause, user_id)

    def count_partner(self, cause: Cause, *, user_id: str, partner_id: str) -> None:
        self._require_user(user_id)
        if partner_id != user_id and partner_id not in self.facts.partners:
            self._record(PartnerCounted, cause, user_id=user_id, partner_id=partner_id)
            self._advance(cause, user_id)

    def count_level(self, cause: Cause, *, user_id: str, test_id: int, language: str,
                    level: str, assessed_at: datetime) -> None:  # fmt: skip
        self._require_user(user_id)
        if test_id not in self.facts.levels:
            self._record(LevelCounted, cause, user_id=user_id, test_id=test_id,
                         language=language, level=level, assessed_at=assessed_at)  # fmt: skip
            self._advance(cause, user_id)

    def claim(self, cause: Cause, *, user_id: str, key: str) -> None:
        self._require_user(user_id)
        if key not in self.unlocked:
            raise Conflict("this achievement is not completed yet",
                           code="ACHIEVEMENT_NOT_COMPLETED")  # fmt: skip
        if key in self.claimed:
            raise Conflict("this reward was claimed already", code="ACHIEVEMENT_ALREADY_CLAIMED")
        self._record(AchievementRewardClaimed, cause, user_id=user_id, key=key,
                     xp=BY_KEY[key].xp)  # fmt: skip

    def _advance(self, cause: Cause, user_id: str) -> None:
        """Recompute every achievement from all facts; record what moved forward."""
        values = measures(self.facts)
        for definition in DEFINITIONS:
            key, target = definition.key, definition.target
            current, previous = min(values[definition.metric], target), self.progress.get(key, 0)
            if current > previous:
                self._record(AchievementProgressed, cause, user_id=user_id, key=key,
                             previous=previous, current=current, target=target)  # fmt: skip
            if current >= target and key not in self.unlocked:
                self._record(AchievementUnlocked, cause, user_id=user_id, key=key,
                             tier=definition.tier, xp_reward=definition.xp)  # fmt: skip

    def _require_user(self, user_id: str) -> None:
        if achievements_id(user_id) != self.id:
            raise ValueError("another user's achievements")

    @applies(SessionCounted)
    def _session(self, e: SessionCounted) -> None:
        self.facts.sessions[e.session_id] = (e.minutes, e.day)

    @applies(PartnerCounted)
    def _partner(self, e: PartnerCounted) -> None:
        self.facts.partners.add(e.partner_id)

    @applies(LevelCounted)
    def _level(self, e: LevelCounted) -> None:
        rank = CEFR_LEVELS.index(e.level) + 1
        self.facts.levels[e.test_id] = LevelFact(e.language, rank, e.assessed_at)

    @applies(AchievementProgressed)
    def _progressed(self, e: AchievementProgressed) -> None:
        self.progress[e.key] = e.current

    @applies(AchievementUnlocked)
    def _unlocked(self, e: AchievementUnlocked) -> None:
        self.unlocked.add(e.key)

    @applies(AchievementRewardClaimed)
    def _claimed(self, e: AchievementRewardClaimed) -> None:
        self.claimed.add(e.key)

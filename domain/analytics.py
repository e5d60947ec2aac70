"""Learning analytics: the measures a learner's progress is read from, as pure rules.

Everything is measured: completed sessions (actual minutes), chat messages sent, and CEFR
results of level tests. Days are the learner's own (their time zone), because a streak or
"this week" means the learner's calendar, not UTC's. Where nothing was measured the rules
answer ``None`` instead of a made-up default.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.level_tests import CEFR_LEVELS

PARTS_OF_DAY = ("night", "morning", "afternoon", "evening")
"""The four six-hour blocks of a day, from midnight."""


@dataclass(frozen=True)
class SessionFact:
    """A session the learner completed."""

    started_at: datetime
    minutes: int
    kind: str
    """``VIDEO`` or ``AUDIO`` for a 1:1 session, ``GROUP`` for a group session."""
    hosted: bool
    partner_id: str | None
    """The other person of a 1:1 session (``None`` for a group)."""


@dataclass(frozen=True)
class LevelResult:
    """One level-test result (``leveltest.LevelAssessed``)."""

    test_id: int
    assessed_at: datetime
    language: str
    level: str
    overall: int
    scores: dict[str, int]
    strengths: tuple[str, ...]
    """Areas (``fluency``, ...) the scorer found strong."""
    improvements: tuple[str, ...]
    """Areas the scorer found weak."""


@dataclass(frozen=True)
class DayStats:
    day: date
    sessions: int
    minutes: int
    messages: int


@dataclass(frozen=True)
class WeekStats:
    week_start: date
    """The Monday the week starts on."""
    sessions: int
    minutes: int
    messages: int
    active_days: int


@dataclass(frozen=True)
class Activity:
    """A learner's measured activity, read in their time zone."""

    zone: ZoneInfo
    sessions: list[SessionFact]
    message_slots: list[tuple[datetime, int]]
    """(start of a quarter hour in UTC, messages sent in it): quarter hours convert to any
    zone's local days exactly."""
    levels: list[LevelResult]
    """Oldest first."""

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def session_days(self) -> set[date]:
        return {self.local(s.started_at).date() for s in self.sessions}

    def messages_by_day(self) -> Counter[date]:
        days: Counter[date] = Counter()
        for slot, count in self.message_slots:
            days[self.local(slot).date()] += count
        return days

    def active_days(self) -> set[date]:
        """Days with a completed session or a message sent."""
        return self.session_days() | set(self.messages_by_day())

    def days(self, first: date, last: date) -> list[DayStats]:
        """Every day from ``first`` to ``last`` (inclusive), empty days included."""
        sessions: Counter[date] = Counter()
        minutes: Counter[date] = Counter()
        for s in self.sessions:
            day = self.local(s.started_at).date()
            sessions[day] += 1
            minutes[day] += s.minutes
        messages = self.messages_by_day()
        count = (last - first).days + 1
        return [
            DayStats(day, sessions[day], minutes[day], messages[day])
            for day in (first + timedelta(days=n) for n in range(max(count, 0)))
        ]

    def sessions_since(self, start: datetime) -> list[SessionFact]:
        return [s for s in self.sessions if s.started_at >= start]


def weeks(days: list[DayStats]) -> list[WeekStats]:
    """Day statistics summed per Monday-to-Sunday week, oldest first."""
    grouped: dict[date, list[DayStats]] = {}
    for stats in days:
        grouped.setdefault(stats.day - timedelta(days=stats.day.weekday()), []).append(stats)
    return [
        WeekStats(
            week_start=monday,
            sessions=sum(d.sessions for d in group),
            minutes=sum(d.minutes for d in group),
            messages=sum(d.messages for d in group),
            active_days=sum(1 for d in group if d.sessions or d.messages),
        )
        for monday, group in sorted(grouped.items())
    ]


def observed_span(active: set[date], start: date, today: date) -> int | None:
    """Days from ``start`` (or the first active day, if later) to ``today``, inclusive:
    what a rate is measured over, so a learner who joined last week is not measured
    against three months. ``None`` when there was no activity in that time."""
    inside = [day for day in active if start <= day <= today]
    if not inside:
        return None
    return (today - max(start, min(inside))).days + 1


def consistency(active: set[date], start: date, today: date) -> float | None:
    """The share (0..1) of days from ``start`` to ``today`` that had any activity,
    counted from the first active day when that is later."""
    span = observed_span(active, start, today)
    if span is None:
        return None
    return round(sum(1 for day in active if start <= day <= today) / span, 2)


def per_week(count: int, span_days: int | None) -> float | None:
    """``count`` as a weekly rate over ``span_days`` (at least one week is assumed, so
    two sessions on a first day are not 14 a week)."""
    if span_days is None:
        return None
    return round(count * 7 / max(span_days, 7), 1)


def part_of_day(moment: datetime) -> str:
    return PARTS_OF_DAY[moment.hour // 6]


def level_rank(level: str) -> int:
    """A1 = 1 ... C2 = 6."""
    return CEFR_LEVELS.index(level) + 1


def next_level(level: str) -> str | None:
    rank = level_rank(level)
    return CEFR_LEVELS[rank] if rank < len(CEFR_LEVELS) else None


def trend(current: int, previous: int | None) -> str | None:
    """How a sub-score moved since the previous result (five points is a real move)."""
    if previous is None:
        return None
    if current >= previous + 5:
        return "improving"
    if current <= previous - 5:
        return "declining"
    return "stable"


def months_per_level(levels: list[LevelResult]) -> float | None:
    """The pace measured so far: months per CEFR level gained in the language with the
    most progress; ``None`` until some language has gone up a level."""
    paces: list[float] = []
    for language in {r.language for r in levels}:
        results = [r for r in levels if r.language == language]
        first, last = results[0], results[-1]
        gained = level_rank(last.level) - level_rank(first.level)
        if gained > 0:
            paces.append((last.assessed_at - first.assessed_at).days / 30 / gained)
    return round(min(paces), 1) if paces else None

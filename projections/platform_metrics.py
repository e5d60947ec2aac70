"""Platform metrics for dashboard builders, kept as facts by day so any range and grouping
is a query, never a replay.

Entity facts are keyed by the entity (a signup per account, a request per request id, an
assessment per test), so they are exact and idempotent whatever the delivery; high-volume
ones (messages, per-user activity) are one row per day and user or a counter per day. Days
are UTC dates of when the event occurred. Language-pair demand is current state: each
learner's native language against each language they learn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from domain.chat import ChatMessagePosted
from domain.events import DomainEvent
from domain.group_sessions import GroupSessionEnded
from domain.identity import AccountDeleted, AccountRegistered
from domain.level_tests import LevelAssessed
from domain.matching import MatchRequestAccepted, MatchRequested
from domain.profiles import NativeLanguageSet, OnboardingCompleted, TargetLanguagesSet
from domain.sessions import SessionCompleted
from eventflow.buffer import ProjectionTx
from eventflow.projection import Projection
from eventflow.readmodels import ReadModels

platform = Projection("platform_metrics")
Grouping = Literal["day", "week", "month"]
GRAINS: tuple[Grouping, ...] = ("day", "week", "month")


@platform.tables
def _tables(metadata: sa.MetaData, name: Callable[[str], str]) -> None:
    def fact(table: str, key: str, *extra: sa.Column[Any]) -> None:
        sa.Table(name(table), metadata, sa.Column(key, sa.String(36), primary_key=True),
                 sa.Column("day", sa.Date, nullable=False, index=True), *extra)  # fmt: skip

    fact("pm_signups", "user_id")
    fact("pm_onboarded", "user_id")
    fact("pm_match_requests", "request_id", sa.Column("accepted_day", sa.Date, nullable=True))
    fact("pm_sessions_done", "session_id", sa.Column("minutes", sa.Integer, nullable=False))
    fact("pm_assessments", "test_id", sa.Column("level", sa.String(2), nullable=False))
    sa.Table(name("pm_active_users"), metadata,
             sa.Column("grain", sa.String(5), primary_key=True),
             sa.Column("period", sa.Date, primary_key=True),
             sa.Column("user_id", sa.String(36), primary_key=True))  # fmt: skip
    sa.Table(name("pm_daily_counts"), metadata,
             sa.Column("day", sa.Date, primary_key=True),
             sa.Column("metric", sa.String(30), primary_key=True),
             sa.Column("value", sa.BigInteger, nullable=False))  # fmt: skip
    sa.Table(name("pm_learners"), metadata,
             sa.Column("user_id", sa.String(36), primary_key=True),
             sa.Column("native", sa.Integer, nullable=True),
             sa.Column("targets", sa.JSON, nullable=False))  # fmt: skip


def _day(event: DomainEvent) -> date:
    return event.meta.occurred_at.date()


def _active(tx: ProjectionTx, event: DomainEvent, user_id: str) -> None:
    """One row per user and day, week and month: distinct active users per period are
    then a plain count, whatever the grouping."""
    seen = tx.memo.setdefault("active", set())
    day = _day(event)
    if (day, user_id) in seen:  # already written in this batch (busy users post a lot)
        return
    seen.add((day, user_id))
    for grain in GRAINS:
        period = bucket(day, grain)
        tx.upsert("pm_active_users", {"grain": grain, "period": period, "user_id": user_id},
                  key=["grain", "period", "user_id"])  # fmt: skip


@platform.on(AccountRegistered)
def _signed_up(e: AccountRegistered, tx: ProjectionTx) -> None:
    tx.upsert("pm_signups", {"user_id": str(e.aggregate_id), "day": _day(e)}, key=["user_id"])
    _active(tx, e, str(e.aggregate_id))


@platform.on(OnboardingCompleted)
def _onboarded(e: OnboardingCompleted, tx: ProjectionTx) -> None:
    tx.upsert("pm_onboarded", {"user_id": e.user_id, "day": _day(e)}, key=["user_id"])


@platform.on(MatchRequested)
def _requested(e: MatchRequested, tx: ProjectionTx) -> None:
    tx.upsert("pm_match_requests", {"request_id": e.request_id, "day": _day(e),
                                 "accepted_day": None}, key=["request_id"])  # fmt: skip
    _active(tx, e, e.sender_id)


@platform.on(MatchRequestAccepted)
def _accepted(e: MatchRequestAccepted, tx: ProjectionTx) -> None:
    tx.update("pm_match_requests", {"request_id": e.request_id}, {"accepted_day": _day(e)})
    if e.meta.actor_id:
        _active(tx, e, e.meta.actor_id)


@platform.on(ChatMessagePosted)
def _message(e: ChatMessagePosted, tx: ProjectionTx) -> None:
    tx.add("pm_daily_counts", {"day": _day(e), "metric": "messages"}, "value", 1)
    _active(tx, e, e.sender_id)


@platform.on(SessionCompleted, GroupSessionEnded)
def _session(e: SessionCompleted | GroupSessionEnded, tx: ProjectionTx) -> None:
    tx.upsert("pm_sessions_done", {"session_id": e.session_id, "day": _day(e),
                                "minutes": e.minutes}, key=["session_id"])  # fmt: skip


@platform.on(LevelAssessed)
def _assessed(e: LevelAssessed, tx: ProjectionTx) -> None:
    tx.upsert("pm_assessments", {"test_id": str(e.test_id), "day": _day(e), "level": e.level},
              key=["test_id"])  # fmt: skip


@platform.on(NativeLanguageSet)
def _native(e: NativeLanguageSet, tx: ProjectionTx) -> None:
    tx.upsert("pm_learners", {"user_id": e.user_id, "native": e.language_id, "targets": []},
              key=["user_id"])  # fmt: skip


@platform.on(TargetLanguagesSet)
def _targets(e: TargetLanguagesSet, tx: ProjectionTx) -> None:
    table = tx.table("pm_learners")
    exists = tx.execute(sa.select(table.c.user_id).where(table.c.user_id == e.user_id)).first()
    targets = sorted({t.language_id for t in e.languages})
    if exists:
        tx.update("pm_learners", {"user_id": e.user_id}, {"targets": targets})
    else:
        tx.insert("pm_learners", {"user_id": e.user_id, "native": None, "targets": targets})


@platform.on(AccountDeleted)
def _deleted(e: AccountDeleted, tx: ProjectionTx) -> None:
    """A deleted account leaves the counts (they happened) but not the current demand."""
    tx.delete("pm_learners", {"user_id": str(e.aggregate_id)})


# -- queries ------------------------------------------------------------------------------
def bucket(day: date, grouping: Grouping) -> date:
    """The first day of the period ``day`` falls in (weeks start on Monday)."""
    if grouping == "week":
        return day - timedelta(days=day.weekday())
    if grouping == "month":
        return day.replace(day=1)
    return day


EMPTY = dict.fromkeys(("signups", "activeUsers", "onboardingCompleted", "matchRequests",
                       "matchesAccepted", "messages", "sessions", "sessionMinutes",
                       "levelTests"), 0)  # fmt: skip
"""Every series row carries every metric: a period with no activity reads 0, not absent."""


def periods(start: date, end: date, grouping: Grouping) -> list[date]:
    """Each period's first day from ``start``'s period to ``end``'s, with none missing."""
    out, current = [], bucket(start, grouping)
    while current <= end:
        out.append(current)
        if grouping == "month":
            current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            current += timedelta(days=7 if grouping == "week" else 1)
    return out


def metrics(read_models: ReadModels, start: date, end: date, grouping: Grouping) -> dict[str, Any]:
    """Every metric per period in ``[start, end]`` plus the period totals and the funnel.
    ``start`` moves back to its period's first day, so every period is whole."""
    start = bucket(start, grouping)
    t = {n: read_models.table(platform, n) for n in platform.tables_for(1)}
    series: dict[date, dict[str, Any]] = {}

    def put(metric: str, rows: Sequence[Any]) -> None:
        for day, value in rows:
            period = series.setdefault(bucket(day, grouping), {})
            period[metric] = period.get(metric, 0) + int(value or 0)

    def per_day(table: sa.Table, value: Any = None, day: Any = None, *where: Any) -> list[Any]:
        column = day if day is not None else table.c.day
        query = sa.select(column, value if value is not None else sa.func.count())
        query = query.where(column >= start, column <= end, *where).group_by(column)
        return list(conn.execute(query).all())

    with read_models.reads() as conn:
        put("signups", per_day(t["pm_signups"]))
        put("onboardingCompleted", per_day(t["pm_onboarded"]))
        put("matchRequests", per_day(t["pm_match_requests"]))
        put(
            "matchesAccepted",
            per_day(t["pm_match_requests"], None, t["pm_match_requests"].c.accepted_day),
        )
        put("sessions", per_day(t["pm_sessions_done"]))
        put(
            "sessionMinutes",
            per_day(t["pm_sessions_done"], sa.func.sum(t["pm_sessions_done"].c.minutes)),
        )
        put("levelTests", per_day(t["pm_assessments"]))
        counts = t["pm_daily_counts"]
        put("messages", per_day(counts, sa.func.sum(counts.c.value), None,
                                counts.c.metric == "messages"))  # fmt: skip
        users = t["pm_active_users"]
        active = conn.execute(
            sa.select(users.c.period, sa.func.count())
            .where(users.c.grain == grouping, users.c.period >= bucket(start, grouping),
                   users.c.period <= end)
            .group_by(users.c.period)
        ).all()  # fmt: skip
        distinct = conn.execute(
            sa.select(sa.func.count(sa.distinct(users.c.user_id)))
            .where(users.c.grain == "day", users.c.period >= start, users.c.period <= end)
        ).scalar_one()  # fmt: skip
        levels = conn.execute(
            sa.select(t["pm_assessments"].c.level, sa.func.count())
            .where(t["pm_assessments"].c.day >= start, t["pm_assessments"].c.day <= end)
            .group_by(t["pm_assessments"].c.level)
        ).all()
        signed_up = conn.execute(sa.select(sa.func.count()).select_from(t["pm_signups"]).where(
            t["pm_signups"].c.day >= start, t["pm_signups"].c.day <= end)).scalar_one()  # fmt: skip
        onboarded = conn.execute(
            sa.select(sa.func.count()).select_from(t["pm_onboarded"].join(
                t["pm_signups"], t["pm_onboarded"].c.user_id == t["pm_signups"].c.user_id))
            .where(t["pm_signups"].c.day >= start, t["pm_signups"].c.day <= end)
        ).scalar_one()  # fmt: skip
        learners = conn.execute(
            sa.select(t["pm_learners"].c.native, t["pm_learners"].c.targets)
        ).all()
    for period, count in active:
        series.setdefault(period, {})["activeUsers"] = int(count)
    totals: dict[str, int] = {}
    for values in series.values():
        for metric, value in values.items():
            if metric != "activeUsers":
                totals[metric] = totals.get(metric, 0) + value
    totals["activeUsers"] = int(distinct)
    requests = totals.get("matchRequests", 0)
    accepted = totals.get("matchesAccepted", 0)
    pairs: dict[tuple[int, int], int] = {}
    for native, targets in learners:
        for target in targets or []:
            if native is not None:
                pairs[(native, target)] = pairs.get((native, target), 0) + 1
    return {
        "range": {"from": start.isoformat(), "to": end.isoformat(), "groupBy": grouping},
        "series": [{"period": p.isoformat(), **EMPTY, **series.get(p, {})}
                   for p in periods(start, end, grouping)],
        "totals": totals,
        "acceptanceRate": round(accepted / requests, 4) if requests else None,
        "onboardingFunnel": {"signedUp": signed_up, "completedOnboarding": onboarded,
                             "rate": round(onboarded / signed_up, 4) if signed_up else None},
        "cefrDistribution": {str(level): int(count) for level, count in sorted(levels)},
        "languagePairs": [{"native": n, "target": g, "learners": c}
                          for (n, g), c in sorted(pairs.items(), key=lambda kv: -kv[1])],
    }  # fmt: skip

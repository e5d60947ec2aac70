"""Learning analytics (contract 4.11): the caller's progress summary, learning pattern,
activity series and dashboard, all read from the analytics read model in the caller's own
time zone.

These are the learner's numbers, not the platform's: the original's ``/analytics/metrics``
and ``/dashboard`` served request counts from its analytics engine, which the SPA charted
as if they were the learner's activity.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from api import learning_pattern
from api.deps import CallerDep, ReadModelsDep
from api.envelope import ok
from api.errors import ApiError
from api.i18n import UserLang
from api.views.achievements import items_of
from domain.achievements import longest_run
from domain.analytics import Activity, consistency, level_rank, weeks
from projections import analytics as rm
from projections.sessions import streak_days

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
SUMMARY_DAYS = 28
"""The progress summary's consistency looks at the last four weeks."""
MAX_RANGE = timedelta(days=366)


def _now(activity: Activity) -> datetime:
    return datetime.now(activity.zone)


@router.get("/progress-summary")
def progress_summary(
    caller: CallerDep, read_models: ReadModelsDep, lang: UserLang
) -> dict[str, Any]:
    """``nextMilestone`` is the unfinished achievement closest to completion."""
    activity = rm.activity_of(read_models, caller.user_id)
    today = _now(activity).date()
    week = datetime.combine(today - timedelta(days=today.weekday()), time(), activity.zone)
    unfinished = [i for i in items_of(read_models, caller.user_id, lang) if not i["isCompleted"]]
    closest = max(unfinished, key=lambda i: i["progressPercentage"], default=None)
    return ok({
        "currentLevel": activity.levels[-1].level if activity.levels else None,
        "sessionsThisWeek": len(activity.sessions_since(week)),
        "consistency": consistency(activity.active_days(),
                                   today - timedelta(days=SUMMARY_DAYS - 1), today),
        "nextMilestone": f"{closest['achievement']['title']} "
                         f"({closest['currentProgress']}/{closest['targetValue']})"
        if closest else None,
        "currentStreak": streak_days(activity.session_days(), today),
        "timeZone": str(activity.zone),
        "fallback": False,
    })  # fmt: skip


@router.get("/learning-pattern")
def pattern(
    caller: CallerDep,
    read_models: ReadModelsDep,
    lang: UserLang,
    monthsBack: Annotated[int, Query(ge=1, le=12)] = 3,  # noqa: N803
) -> dict[str, Any]:
    activity = rm.activity_of(read_models, caller.user_id)
    return ok(learning_pattern.describe(activity, _now(activity), monthsBack, lang))


def _in_zone(value: datetime | None, zone: ZoneInfo, default: datetime) -> datetime:
    """A time without a zone (or a bare date) is in the caller's zone."""
    if value is None:
        return default
    return value if value.tzinfo else value.replace(tzinfo=zone)


@router.get("/metrics")
def metrics(
    caller: CallerDep,
    read_models: ReadModelsDep,
    start: datetime | None = None,
    end: datetime | None = None,
    interval: Literal["1h", "1d"] = "1d",
    groupBy: Annotated[str | None, Query(max_length=20)] = None,  # noqa: N803
) -> dict[str, Any]:
    """The caller's activity per local day (``dailyStats``) and per week (``weeklyStats``)
    between ``start`` and ``end`` (default: the last seven days). Days are the finest
    grain kept for a learner, so ``interval=1h`` answers days too; ``groupBy`` (the
    original grouped platform requests by path) has nothing to group here."""
    activity = rm.activity_of(read_models, caller.user_id)
    now = _now(activity)
    until = _in_zone(end, activity.zone, now)
    since = _in_zone(start, activity.zone, until - timedelta(days=6))
    if not since <= until <= since + MAX_RANGE:
        raise ApiError(422, "end must follow start, within a year", "INVALID_RANGE")
    days = activity.days(activity.local(since).date(), activity.local(until).date())
    data = {
        "dailyStats": [{"date": d.day.isoformat(), "sessions": d.sessions,
                        "minutes": d.minutes, "messages": d.messages} for d in days],
        "weeklyStats": [{"weekStart": w.week_start.isoformat(), "sessions": w.sessions,
                         "minutes": w.minutes, "messages": w.messages,
                         "activeDays": w.active_days} for w in weeks(days)],
        "totals": {"sessions": sum(d.sessions for d in days),
                   "minutes": sum(d.minutes for d in days),
                   "messages": sum(d.messages for d in days),
                   "activeDays": sum(1 for d in days if d.sessions or d.messages)},
        "timeZone": str(activity.zone),
        "interval": "1d",
    }  # fmt: skip
    body = ok(data)
    body["metrics"] = data  # AnalyticsPage reads top-level metrics (contract 3.3)
    return body


@router.get("/dashboard")
def dashboard(caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    """Totals, level-test history and matching history; the SPA's charts read
    ``levelTests`` and ``matchingEvents`` at the top level (contract 3.3)."""
    activity = rm.activity_of(read_models, caller.user_id)
    today = _now(activity).date()
    minutes = sum(s.minutes for s in activity.sessions)
    days = activity.session_days()
    tests = [{"testId": r.test_id, "date": activity.local(r.assessed_at).date().isoformat(),
              "assessedAt": r.assessed_at.isoformat(), "language": r.language,
              "level": r.level, "levelIndex": level_rank(r.level) - 1,
              "overallScore": r.overall, "score": r.overall, "scores": r.scores}
             for r in activity.levels]  # fmt: skip
    matches = [{"date": activity.local(m["at"]).date().isoformat(), "at": m["at"].isoformat(),
                "type": m["kind"], "initiated": m["initiated"], "partnerId": m["partner_id"]}
               for m in rm.match_events_of(read_models, caller.user_id)]  # fmt: skip
    recent = sorted(
        [{"type": "session", "at": s.started_at.isoformat(), "kind": s.kind,
          "minutes": s.minutes} for s in activity.sessions[-10:]]
        + [{"type": "level_test", "at": t["assessedAt"], "language": t["language"],
            "level": t["level"]} for t in tests[-10:]]
        + [{"type": "match", "at": m["at"], "kind": m["type"]} for m in matches[:10]],
        key=lambda item: str(item["at"]), reverse=True)[:10]  # fmt: skip
    week = activity.days(today - timedelta(days=6), today)
    return ok({
        "totalSessions": len(activity.sessions),
        "totalMinutes": minutes,
        "totalHours": round(minutes / 60, 1),
        "currentStreak": streak_days(days, today),
        "longestStreak": longest_run(days),
        "messagesSent": sum(count for _, count in activity.message_slots),
        "partnersCount": len({s.partner_id for s in activity.sessions if s.partner_id}),
        "weeklyActiveDays": sum(1 for d in week if d.sessions or d.messages),
        "levelTests": tests,
        "matchingEvents": matches,
        "recentActivity": recent,
        "timeZone": str(activity.zone),
    }, mirror=True)  # fmt: skip

"""Sessions (contract 4.8): 1:1 sessions with a matched partner (schedule, answer, move,
cancel, start, complete, no-show), the my-sessions list, calendar and statistics; and
group sessions (``/group-sessions``: create, list, join, leave, host controls)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import MAX_PAGE, CallerDep, ReadModelsDep, UserContext, Writes, WritesDep
from api.envelope import ok
from api.errors import ApiError
from api.views.sessions import language_code, session_views
from commands import sessions as cmd
from commands.base import Handler, Outcome
from domain import reference
from eventflow.readmodels import ReadModels
from projections import sessions as rm
from projections.chat import Person, people
from projections.profiles import time_zone_of

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"])
groups = APIRouter(prefix="/api/v1/group-sessions", tags=["sessions"])
MONTHLY_GOAL = 8
"""Sessions a month the progress bar aims at."""


def _wait(writes: Writes, outcome: Outcome, session_id: str) -> None:
    writes.services.wait_applied(rm.sessions, outcome, UUID(session_id))


@router.post("")
def schedule(
    body: cmd.ScheduleSession,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    read_models: ReadModelsDep,
) -> dict[str, Any]:
    outcome = cmd.schedule_session(writes.bus, ctx, host_id=caller.user_id, command=body)
    session_id = outcome.result["session_id"]
    _wait(writes, outcome, session_id)
    return ok(_one(read_models, session_id, caller.user_id))


def _one(read_models: ReadModels, session_id: str, user_id: str) -> dict[str, Any]:
    row = rm.session_row(read_models, session_id)
    if row is None or user_id not in (row["host_id"], row["guest_id"]):
        raise ApiError(404, "no such session", "SESSION_NOT_FOUND")
    return session_views(read_models, [row], user_id)[0]


@router.get("/my-sessions")
def my_sessions(
    caller: CallerDep,
    read_models: ReadModelsDep,
    page: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 0,
    size: Annotated[int, Query(ge=1, le=100)] = 50,
) -> dict[str, Any]:
    rows = rm.sessions_of(read_models, caller.user_id, limit=size, offset=page * size)
    return ok(session_views(read_models, rows, caller.user_id))


def _day_or_time(value: str, zone: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "dates are ISO 8601", "INVALID_DATE") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


@router.get("/calendar")
def calendar(
    caller: CallerDep,
    read_models: ReadModelsDep,
    startDate: Annotated[str, Query(max_length=40)],  # noqa: N803
    endDate: Annotated[str, Query(max_length=40)],  # noqa: N803
) -> dict[str, Any]:
    """Sessions starting in [startDate, endDate); a date without a time is midnight in the
    caller's zone."""
    zone = time_zone_of(read_models, caller.user_id)
    start, end = _day_or_time(startDate, zone), _day_or_time(endDate, zone)
    if not start < end <= start + timedelta(days=366):
        raise ApiError(422, "endDate must follow startDate, within a year", "INVALID_RANGE")
    rows = rm.sessions_of(read_models, caller.user_id, since=start, until=end, limit=500)
    events = [
        {"sessionId": v["sessionId"], "startTime": v["scheduledAt"], "endTime": v["endAt"],
         "status": v["status"], "title": v["title"], "type": v["type"],
         "partnerName": v["partnerName"]}
        for v in session_views(read_models, rows, caller.user_id)
    ]  # fmt: skip
    return ok({"events": events, "availableSlots": [], "timeZone": str(zone)})


@router.get("/stats")
def stats(
    caller: CallerDep,
    read_models: ReadModelsDep,
    period: Literal["week", "month", "year"] = "month",
) -> dict[str, Any]:
    """Completed 1:1 and group sessions: actual minutes, streaks in the caller's days."""
    zone = time_zone_of(read_models, caller.user_id)
    rows = rm.completed_sessions(read_models, caller.user_id)
    now = datetime.now(zone)
    since = now - {"week": timedelta(days=7), "month": timedelta(days=30),
                   "year": timedelta(days=365)}[period]  # fmt: skip
    month_start = datetime.combine(now.date().replace(day=1), time(), zone)
    recent = [r for r in rows if r["started_at"] >= since]
    this_month = [r for r in rows if r["started_at"] >= month_start]
    streak = rm.streak_days(rm.local_days(rows, zone), now.date())
    minutes = sum(r["minutes"] for r in recent)
    hours = Counter(_part_of_day(r["started_at"].astimezone(zone)) for r in rows)
    data = {
        "totalMinutes": sum(r["minutes"] for r in rows),
        "periodMinutes": minutes,
        "monthlyMinutes": sum(r["minutes"] for r in this_month),
        "totalSessions": len(recent),
        "completedSessions": len(recent),
        "averageDuration": round(minutes / len(recent)) if recent else 0,
        "streakDays": streak,
        "currentStreak": streak,
        "partnersCount": len({r["partner_id"] for r in rows if r["partner_id"]}),
        "monthlyGoal": MONTHLY_GOAL,
        "monthlyProgress": min(100, round(100 * len(this_month) / MONTHLY_GOAL)),
        "preferredTime": hours.most_common(1)[0][0] if hours else None,
        "period": period,
    }
    body = ok(data)
    body["metrics"] = data  # AnalyticsPage reads top-level metrics (contract 3.3)
    return body


def _part_of_day(moment: datetime) -> str:
    return ("night", "morning", "afternoon", "evening")[moment.hour // 6]


@router.get("/{session_id}")
def get_session(session_id: str, caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    return ok(_one(read_models, session_id, caller.user_id))


Steps = dict[str, tuple[Handler[Any], type[cmd.SessionStep]]]
"""URL path -> the command a ``POST /{session_id}/{path}`` issues."""


def add_action_routes(
    target: APIRouter, actions: Steps, view: Callable[..., dict[str, Any]]
) -> None:
    """``POST /{session_id}/{path}`` per step: issue its command, wait for the read model,
    answer the session as ``view(read_models, session_id, caller)`` shows it."""

    def route_for(
        handler: Handler[Any], kind: type[cmd.SessionStep]
    ) -> Callable[..., dict[str, Any]]:
        def route(
            session_id: str,
            caller: CallerDep,
            ctx: UserContext,
            writes: WritesDep,
            read_models: ReadModelsDep,
        ) -> dict[str, Any]:
            command = kind(session_id=session_id, user_id=caller.user_id)
            _wait(writes, handler(writes.bus, ctx, command), session_id)
            return ok(view(read_models, session_id, caller.user_id))

        return route

    for path, (handler, kind) in actions.items():
        target.add_api_route(f"/{{session_id}}/{path}", route_for(handler, kind), methods=["POST"],
                             name=f"{target.prefix.rsplit('/', 1)[-1]}_{path}")  # fmt: skip


add_action_routes(
    router,
    {
        "accept": (cmd.accept_session, cmd.AcceptSession),
        "decline": (cmd.decline_session, cmd.DeclineSession),
        "cancel": (cmd.cancel_session, cmd.CancelSession),
        "start": (cmd.start_session, cmd.StartSession),
        "end": (cmd.complete_session, cmd.CompleteSession),
        "complete": (cmd.complete_session, cmd.CompleteSession),
        "no-show": (cmd.miss_session, cmd.MissSession),
    },
    _one,
)


class Reschedule(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    starts_at: datetime = Field(alias="scheduledAt")
    duration_minutes: int = Field(default=30, alias="durationMinutes")


@router.patch("/{session_id}/reschedule")
def reschedule(
    session_id: str,
    body: Reschedule,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    read_models: ReadModelsDep,
) -> dict[str, Any]:
    outcome = cmd.reschedule_session(writes.bus, ctx, session_id=session_id, user_id=caller.user_id,
                                     starts_at=body.starts_at,
                                     duration_minutes=body.duration_minutes)  # fmt: skip
    _wait(writes, outcome, session_id)
    return ok(_one(read_models, session_id, caller.user_id))


# -- group sessions -----------------------------------------------------------------------
def group_views(
    read_models: ReadModels, rows: list[rm.GroupSessionRow], user_id: str
) -> list[dict[str, Any]]:
    """Group sessions as the lists show them: members and names in two lookups per list."""
    members = rm.group_members(read_models, [r["session_id"] for r in rows])
    names = people(read_models, sorted({m for ms in members.values() for m in ms}))
    return [_group_view(r, members[r["session_id"]], names, user_id) for r in rows]


def _group_view(
    row: rm.GroupSessionRow, members: list[str], names: dict[str, Person], user_id: str
) -> dict[str, Any]:
    joined, host = user_id in members, names.get(row["host_id"])
    return {
        "id": row["session_id"],
        "sessionId": row["session_id"],
        "title": row["title"],
        "topicCategory": row["topic"],
        "targetLanguage": language_code(row["language_id"]),
        "languageLevel": f"{row['level_min']}-{row['level_max']}",
        "levelMin": row["level_min"],
        "levelMax": row["level_max"],
        "maxParticipants": row["capacity"],
        "currentParticipants": row["participants"],
        "scheduledAt": row["starts_at"].isoformat(),
        "sessionDuration": row["duration_minutes"],
        "status": row["status"],
        "hostUserId": row["host_id"],
        "hostName": host["name"] if host else None,
        "isHost": row["host_id"] == user_id,
        "isJoined": joined,
        "participants": [names[m] for m in members] if joined else [],
        "roomId": row["room_id"] if joined else None,
    }


def _group(read_models: ReadModels, session_id: str, user_id: str) -> dict[str, Any]:
    row = rm.group_session_row(read_models, session_id)
    if row is None:
        raise ApiError(404, "no such session", "SESSION_NOT_FOUND")
    return group_views(read_models, [row], user_id)[0]


@groups.post("")
def create_group(
    body: cmd.CreateGroupSession,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    read_models: ReadModelsDep,
) -> dict[str, Any]:
    outcome = cmd.create_group_session(writes.bus, ctx, host_id=caller.user_id, command=body)
    session_id = outcome.result["session_id"]
    _wait(writes, outcome, session_id)
    return ok(_group(read_models, session_id, caller.user_id))


@groups.get("")
def open_groups(
    caller: CallerDep,
    read_models: ReadModelsDep,
    language: Annotated[str | None, Query(max_length=10)] = None,
) -> dict[str, Any]:
    language_id = None
    if language:
        found = reference.language_by_code(language)
        language_id = found.id if found else -1
    rows = rm.open_group_sessions(read_models, datetime.now(UTC), language_id)
    return ok(group_views(read_models, rows, caller.user_id))


@groups.get("/my")
def my_groups(caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    rows = rm.group_sessions_of(read_models, caller.user_id)
    return ok(group_views(read_models, rows, caller.user_id))


@groups.get("/{session_id}")
def get_group(session_id: str, caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    return ok(_group(read_models, session_id, caller.user_id))


add_action_routes(
    groups,
    {
        "join": (cmd.join_group_session, cmd.JoinGroupSession),
        "leave": (cmd.leave_group_session, cmd.LeaveGroupSession),
        "start": (cmd.start_group_session, cmd.StartGroupSession),
        "end": (cmd.end_group_session, cmd.EndGroupSession),
        "cancel": (cmd.cancel_group_session, cmd.CancelGroupSession),
    },
    _group,
)


@groups.post("/{session_id}/kick/{user_id}")
def kick(
    session_id: str,
    user_id: str,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    read_models: ReadModelsDep,
) -> dict[str, Any]:
    outcome = cmd.remove_participant(writes.bus, ctx, session_id=session_id, host_id=caller.user_id,
                                     user_id=user_id)  # fmt: skip
    _wait(writes, outcome, session_id)
    return ok(_group(read_models, session_id, caller.user_id))

"""Offline catch-up: ``GET /api/v1/sync?since=CURSOR`` answers everything that changed for
the caller since the cursor (chat messages and read marks in their rooms, their
notifications including deletions, match requests and matches, 1:1 sessions) and a new
cursor.

A cursor is an event-log position. Every read-model row these views come from carries the
position of the event that last changed it, and the new cursor is a position up to which
every read model involved has applied *every* event (``Services.applied_everywhere``; with
Kafka, relay ticks keep idle partitions moving). So a change is never skipped: anything
applied later comes from an event after the cursor. A row may come twice (changed again),
which a client handles by replacing what it holds. Pages are whole events: when a list is
cut at ``limit``, the cursor stops before the first event left out and ``hasMore`` says to
call again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Query

from api.deps import AppliedEverywhereDep, CallerDep, OriginDep, ReadModelsDep
from api.envelope import ok
from api.views.chat import people_of
from api.views.sessions import session_views
from eventflow.projection import Projection
from eventflow.queries import Positioned, Window
from eventflow.readmodels import ReadModels
from projections import chat as chat_rm
from projections import matching as matching_rm
from projections import notifications as notifications_rm
from projections import sessions as sessions_rm

router = APIRouter(prefix="/api/v1", tags=["sync"])
Row = TypeVar("Row", bound=Positioned)


@dataclass(frozen=True)
class Reader:
    """Who asks, and what some views need besides the rows."""

    read_models: ReadModels
    origin: str
    user_id: str


@dataclass(frozen=True)
class Source(Generic[Row]):
    """One list of the answer: the read model's changes in a window, and the fields they
    are shown as. Declared together, so mypy holds each view to the row type its query
    returns."""

    projection: Projection
    changes: Callable[[ReadModels, str, Window], list[Row]]
    views: Callable[[Reader, list[Row]], dict[str, Any]]


def _messages(reader: Reader, rows: list[chat_rm.MessageRow]) -> dict[str, Any]:
    senders = people_of(reader.read_models, reader.origin, sorted({r["sender_id"] for r in rows}))
    return {"messages": [chat_rm.message_view(r, senders[r["sender_id"]]) for r in rows]}


def _read_states(_: Reader, rows: list[chat_rm.ParticipantRow]) -> dict[str, Any]:
    return {"readStates": [
        {"roomId": r["room_id"], "userId": r["user_id"], "readAt": _iso(r["read_at"])}
        for r in rows
    ]}  # fmt: skip


def _notifications(reader: Reader, rows: list[notifications_rm.NotificationRow]) -> dict[str, Any]:
    kept = [r for r in rows if r["deleted_at"] is None]
    gone = [r["notification_id"] for r in rows if r["deleted_at"] is not None]
    return {
        "notifications": notifications_rm.render_many(reader.read_models, reader.user_id, kept),
        "deletedNotificationIds": gone,
    }


def _match_requests(_: Reader, rows: list[matching_rm.MatchRequestRow]) -> dict[str, Any]:
    return {"matchRequests": [
        {"requestId": r["request_id"], "senderId": r["sender_id"],
         "receiverId": r["receiver_id"], "status": r["status"],
         "createdAt": _iso(r["created_at"]), "respondedAt": _iso(r["responded_at"])}
        for r in rows
    ]}  # fmt: skip


def _matches(reader: Reader, rows: list[matching_rm.MatchRow]) -> dict[str, Any]:
    return {"matches": [
        {"matchId": r["match_id"],
         "partnerId": r["user_b"] if r["user_a"] == reader.user_id else r["user_a"],
         "active": r["active"], "matchedAt": _iso(r["matched_at"]),
         "dissolvedAt": _iso(r["dissolved_at"])}
        for r in rows
    ]}  # fmt: skip


def _sessions(reader: Reader, rows: list[sessions_rm.SessionRow]) -> dict[str, Any]:
    return {"sessions": session_views(reader.read_models, rows, reader.user_id)}


SOURCES: dict[str, Source[Any]] = {
    "messages": Source(chat_rm.chat, chat_rm.message_changes, _messages),
    "readStates": Source(chat_rm.chat, chat_rm.read_mark_changes, _read_states),
    "notifications": Source(notifications_rm.notifications,
                            notifications_rm.notification_changes, _notifications),
    "matchRequests": Source(matching_rm.matching, matching_rm.request_changes, _match_requests),
    "matches": Source(matching_rm.matching, matching_rm.match_changes, _matches),
    "sessions": Source(sessions_rm.sessions, sessions_rm.session_changes, _sessions),
}  # fmt: skip


@router.get("/sync")
def sync(
    caller: CallerDep,
    applied_everywhere: AppliedEverywhereDep,
    read_models: ReadModelsDep,
    origin: OriginDep,
    since: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
) -> dict[str, Any]:
    user_id, reader = caller.user_id, Reader(read_models, origin, caller.user_id)
    upto = applied_everywhere({source.projection for source in SOURCES.values()})
    if upto <= since:  # nothing new applied (or a projector is behind an older cursor)
        found: dict[str, list[Positioned]] = {name: [] for name in SOURCES}
        return ok(_views(reader, found) | {"cursor": str(since), "hasMore": False})
    window = Window(since, upto, limit + 1)
    found = {name: source.changes(read_models, user_id, window)
             for name, source in SOURCES.items()}  # fmt: skip
    cursor = upto
    for rows in found.values():
        if len(rows) > limit:  # stop before the first event left out, or at it if it is all
            left_out = rows[limit]["position"]
            cursor = min(cursor, left_out - 1 if left_out > rows[0]["position"] else left_out)
    if cursor < upto:
        whole = Window(since, cursor, None)
        for name, rows in found.items():
            if rows and rows[-1]["position"] <= cursor:
                continue
            if len(rows) > limit and rows[limit]["position"] == cursor:  # one huge event
                found[name] = SOURCES[name].changes(read_models, user_id, whole)
            else:
                found[name] = [r for r in rows if r["position"] <= cursor]
    views = _views(reader, found)
    return ok(views | {"cursor": str(cursor), "hasMore": cursor < upto})


def _views(reader: Reader, found: dict[str, list[Positioned]]) -> dict[str, Any]:
    views: dict[str, Any] = {}
    for name, source in SOURCES.items():
        views |= source.views(reader, found[name])
    return views


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None

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
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import AppliedEverywhereDep, CallerDep, OriginDep, ReadModelsDep
from api.envelope import ok
from api.views.chat import people_of
from api.views.sessions import session_views
from eventflow.projection import Projection
from eventflow.queries import Window
from eventflow.readmodels import ReadModels
from projections import chat as chat_rm
from projections import matching as matching_rm
from projections import notifications as notifications_rm
from projections import sessions as sessions_rm

router = APIRouter(prefix="/api/v1", tags=["sync"])

Changes = Callable[[ReadModels, str, Window], list[dict[str, Any]]]
SOURCES: dict[str, tuple[Projection, Changes]] = {
    "messages": (chat_rm.chat, chat_rm.message_changes),
    "readStates": (chat_rm.chat, chat_rm.read_mark_changes),
    "notifications": (notifications_rm.notifications, notifications_rm.notification_changes),
    "matchRequests": (matching_rm.matching, matching_rm.request_changes),
    "matches": (matching_rm.matching, matching_rm.match_changes),
    "sessions": (sessions_rm.sessions, sessions_rm.session_changes),
}


@router.get("/sync")
def sync(
    caller: CallerDep,
    applied_everywhere: AppliedEverywhereDep,
    read_models: ReadModelsDep,
    origin: OriginDep,
    since: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
) -> dict[str, Any]:
    user_id = caller.user_id
    upto = applied_everywhere({projection for projection, _ in SOURCES.values()})
    if upto <= since:  # nothing new applied (or a projector is behind an older cursor)
        found: dict[str, list[dict[str, Any]]] = {name: [] for name in SOURCES}
        return ok(
            _views(read_models, origin, user_id, found) | {"cursor": str(since), "hasMore": False}
        )
    window = Window(since, upto, limit + 1)
    found = {name: changes(read_models, user_id, window) for name, (_, changes) in SOURCES.items()}
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
                found[name] = SOURCES[name][1](read_models, user_id, whole)
            else:
                found[name] = [r for r in rows if r["position"] <= cursor]
    views = _views(read_models, origin, user_id, found)
    return ok(views | {"cursor": str(cursor), "hasMore": cursor < upto})


def _views(
    read_models: ReadModels, origin: str, user_id: str, found: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    senders = people_of(read_models, origin, sorted({r["sender_id"] for r in found["messages"]}))
    notifications = [r for r in found["notifications"] if r["deleted_at"] is None]
    return {
        "messages": [chat_rm.message_view(r, senders[r["sender_id"]]) for r in found["messages"]],
        "readStates": [
            {"roomId": r["room_id"], "userId": r["user_id"], "readAt": _iso(r["read_at"])}
            for r in found["readStates"]
        ],
        "notifications": notifications_rm.render_many(read_models, user_id, notifications),
        "deletedNotificationIds": [
            r["notification_id"] for r in found["notifications"] if r["deleted_at"] is not None
        ],
        "matchRequests": [
            {
                "requestId": r["request_id"],
                "senderId": r["sender_id"],
                "receiverId": r["receiver_id"],
                "status": r["status"],
                "createdAt": _iso(r["created_at"]),
                "respondedAt": _iso(r["responded_at"]),
            }
            for r in found["matchRequests"]
        ],
        "matches": [
            {
                "matchId": r["match_id"],
                "partnerId": r["user_b"] if r["user_a"] == user_id else r["user_a"],
                "active": r["active"],
                "matchedAt": _iso(r["matched_at"]),
                "dissolvedAt": _iso(r["dissolved_at"]),
            }
            for r in found["matches"]
        ],
        "sessions": session_views(read_models, found["sessions"], user_id),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None

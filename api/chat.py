"""Chat REST routes (contract section 4.6). Messages are posted over STOMP; these routes
list, create and manage rooms, page history and mark rooms read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.deps import CallerDep, RuntimeDep, UserContext
from api.envelope import ok
from api.errors import ApiError
from api.profiles import file_url
from commands import chat as cmd
from domain.chat import ChatRoom, room_aggregate_id
from infra.runtime import Runtime
from projections import chat as rm
from projections.identity import get_accounts
from projections.profiles import get_profiles

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])


def _people(rt: Runtime, request: Request, user_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``{userId, name, profileImage}`` for each user (the SPA needs a non-null object)."""
    accounts, profiles = (
        get_accounts(rt.read_models, user_ids),
        get_profiles(rt.read_models, user_ids),
    )
    people = {}
    for user_id in user_ids:
        profile = profiles.get(user_id, {})
        name = profile.get("english_name") or accounts.get(user_id, {}).get("name") or "(unknown)"
        image = file_url(rt, request, profile.get("image_key"))
        people[user_id] = {"userId": user_id, "name": name, "profileImage": image}
    return people


def _rooms(
    rt: Runtime, request: Request, user_id: str, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    members = rm.participants_of(rt.read_models, [r["room_id"] for r in rows])
    people = _people(rt, request, sorted({u for ids in members.values() for u in ids}))
    rooms = []
    for row in rows:
        participants = [people[u] for u in members[row["room_id"]]]
        name = row["name"]
        if row["room_type"] == "DIRECT":  # a 1:1 room is named after the other person
            others = [p["name"] for p in participants if p["userId"] != user_id]
            name = others[0] if others else name
        read_at, last_at = row.get("read_at"), row["last_message_at"]
        rooms.append(
            {
                "roomId": row["room_id"],
                "roomName": name,
                "roomType": row["room_type"],
                "isPublic": row["is_public"],
                "maxParticipants": row["max_participants"],
                "participants": participants,
                "isOwner": row["created_by"] == user_id,
                "unreadCount": int(row.get("unread_count") or 0),
                "lastMessage": row["last_message"],
                "lastMessageAt": last_at.isoformat() if last_at else None,
                "isLastMessageRead": last_at is None
                or row["last_sender_id"] == user_id
                or (read_at is not None and read_at >= last_at),
                "createdAt": row["created_at"].isoformat(),
            }
        )
    return rooms


def _room(rt: Runtime, request: Request, user_id: str, room_id: int) -> dict[str, Any]:
    rows = [r for r in rm.rooms_of(rt.read_models, user_id) if r["room_id"] == room_id]
    return _rooms(rt, request, user_id, rows)[0]


def _require_member(rt: Runtime, user_id: str, room_id: int) -> None:
    """Rooms one is not in answer like rooms that do not exist (no probing of ids)."""
    if user_id not in rm.participants_of(rt.read_models, [room_id])[room_id]:
        raise ApiError(404, "no such chat room", "ROOM_NOT_FOUND")


def _wait(rt: Runtime, outcome: Any, room_id: int) -> None:
    rt.wait_applied(rm.chat, outcome, room_aggregate_id(room_id))


@router.get("/rooms")
def list_rooms(caller: CallerDep, rt: RuntimeDep, request: Request) -> dict[str, Any]:
    return ok(_rooms(rt, request, caller.user_id, rm.rooms_of(rt.read_models, caller.user_id)))


@router.post("/rooms")
def create_room(
    body: cmd.CreateRoom, caller: CallerDep, ctx: UserContext, rt: RuntimeDep, request: Request
) -> dict[str, Any]:
    outcome = cmd.create_room(rt.bus, ctx, creator_id=caller.user_id, command=body)
    room_id = int(outcome.result["room_id"])
    _wait(rt, outcome, room_id)
    return ok(_room(rt, request, caller.user_id, room_id))


@router.post("/rooms/{room_id}/join")
def join_room(
    room_id: int, caller: CallerDep, ctx: UserContext, rt: RuntimeDep, request: Request
) -> dict[str, Any]:
    def join(room: ChatRoom, cause: Any) -> None:
        room.join(cause, caller.user_id)

    _wait(rt, cmd.on_room(rt.bus, ctx, "Join", room_id, join), room_id)
    return ok(_room(rt, request, caller.user_id, room_id))


@router.post("/rooms/{room_id}/leave")
def leave_room(room_id: int, caller: CallerDep, ctx: UserContext, rt: RuntimeDep) -> dict[str, Any]:
    def leave(room: ChatRoom, cause: Any) -> None:
        room.leave(cause, caller.user_id)

    _wait(rt, cmd.on_room(rt.bus, ctx, "Leave", room_id, leave), room_id)
    return ok({"roomId": room_id, "left": True})


@router.post("/read-status/rooms/{room_id}/read-all")
def read_all(room_id: int, caller: CallerDep, ctx: UserContext, rt: RuntimeDep) -> dict[str, Any]:
    def mark(room: ChatRoom, cause: Any) -> None:
        room.mark_read(cause, caller.user_id)

    _wait(rt, cmd.on_room(rt.bus, ctx, "MarkRead", room_id, mark), room_id)
    return ok({"roomId": room_id, "unreadCount": 0})


@router.get("/rooms/{room_id}/messages")
def messages(
    room_id: int,
    caller: CallerDep,
    rt: RuntimeDep,
    request: Request,
    page: Annotated[int, Query(ge=0)] = 0,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The latest ``size`` messages (page 0), oldest first; members only."""
    _require_member(rt, caller.user_id, room_id)
    rows = rm.messages_of(rt.read_models, room_id, page=page, size=size)
    people = _people(rt, request, sorted({r["sender_id"] for r in rows}))
    return ok([message_body(r, people[r["sender_id"]]) for r in rows])


def message_body(row: dict[str, Any], sender: dict[str, Any]) -> dict[str, Any]:
    """A message as history and live delivery both present it (contract 4.6 and 5.1)."""
    return {
        "messageId": row["message_id"],
        "roomId": row["room_id"],
        "sender": sender,
        "message": row["text"],
        "imageUrls": list(row["image_urls"] or []),
        "audioUrl": row["audio_url"],
        "audioDuration": row["audio_duration"],
        "messageType": row["message_type"],
        "sentAt": row["sent_at"].isoformat(),
    }


@router.get("/read-status/total-unread-count")
def total_unread(caller: CallerDep, rt: RuntimeDep) -> dict[str, Any]:
    rooms = rm.rooms_of(rt.read_models, caller.user_id)
    return ok({"totalUnreadCount": sum(int(r["unread_count"] or 0) for r in rooms)})


@router.get("/read-status/rooms/{room_id}/unread-count")
def room_unread(room_id: int, caller: CallerDep, rt: RuntimeDep) -> dict[str, Any]:
    _require_member(rt, caller.user_id, room_id)
    rooms = [r for r in rm.rooms_of(rt.read_models, caller.user_id) if r["room_id"] == room_id]
    return ok({"roomId": room_id, "unreadCount": int(rooms[0]["unread_count"] or 0)})

"""Chat REST routes (contract section 4.6). Messages are posted over STOMP; these routes
list, create and manage rooms, page history and mark rooms read."""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, File, Query, UploadFile, WebSocket
from starlette.concurrency import run_in_threadpool

from api.deps import (
    MAX_PAGE,
    BlobsDep,
    CallerDep,
    Int64,
    OriginDep,
    ReadModelsDep,
    SettingsDep,
    UserContext,
    Writes,
    WritesDep,
)
from api.envelope import ok
from api.errors import ApiError
from api.openapi import error_responses
from api.services import Services
from api.stomp_session import StompSession
from api.uploads import MAX_IMAGES
from api.views.chat import people_of
from api.views.files import CHAT_AUDIO_PREFIX, CHAT_IMAGE_PREFIX
from commands import chat as cmd
from commands.base import C, CommandContext, Handler, Outcome
from domain.chat import owner_of, room_aggregate_id
from eventflow.readmodels import ReadModels
from infra.blobs import BlobStore
from infra.fanout import PUBLIC_ROOMS_CHANNEL, room_channel, typing_channel, user_channel
from infra.media.images import ImageRejected, process_photo
from infra.settings import Settings
from projections import chat as rm

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])
sockets = APIRouter(tags=["chat"])
"""The STOMP endpoint lives at ``/ws/chat``, outside the REST prefix (contract 5.1)."""


def _rooms(
    read_models: ReadModels, origin: str, user_id: str, rows: list[rm.ChatRoomListing]
) -> list[dict[str, Any]]:
    members = rm.participants_of(read_models, [r["room_id"] for r in rows])
    people = people_of(read_models, origin, sorted({u for ids in members.values() for u in ids}))
    rooms = []
    for row in rows:
        participants = [people[u] for u in members[row["room_id"]]]
        name = row["name"]
        if row["room_type"] == "DIRECT":  # a 1:1 room is named after the other person
            others = [p["name"] for p in participants if p["userId"] != user_id]
            name = others[0] if others else name
        read_at, last_at = row["read_at"], row["last_message_at"]
        rooms.append(
            {
                "roomId": row["room_id"],
                "roomName": name,
                "roomType": row["room_type"],
                "isPublic": row["is_public"],
                "maxParticipants": row["max_participants"],
                "participants": participants,
                "isOwner": owner_of(row["room_type"], row["created_by"]) == user_id,
                "unreadCount": row["unread_count"],
                "lastMessage": row["last_message"],
                "lastMessageAt": last_at.isoformat() if last_at else None,
                "isLastMessageRead": last_at is None
                or row["last_sender_id"] == user_id
                or (read_at is not None and read_at >= last_at),
                "createdAt": row["created_at"].isoformat(),
            }
        )
    return rooms


def _room(read_models: ReadModels, origin: str, user_id: str, room_id: int) -> dict[str, Any]:
    return _rooms(read_models, origin, user_id, rm.rooms_of(read_models, user_id, room_id))[0]


def _require_member(read_models: ReadModels, user_id: str, room_id: int) -> None:
    """Rooms one is not in answer like rooms that do not exist (no probing of ids)."""
    if user_id not in rm.participants_of(read_models, [room_id])[room_id]:
        raise ApiError(404, "no such chat room", "ROOM_NOT_FOUND")


def _issue(
    writes: Writes, handler: Handler[C], ctx: CommandContext, command: C, room_id: int
) -> Outcome:
    """Run a command on room ``room_id`` and wait until the chat read model shows it."""
    return writes.issue(handler, ctx, command, visible_in=rm.chat, key=room_aggregate_id(room_id))


@router.get("/rooms")
def list_rooms(caller: CallerDep, read_models: ReadModelsDep, origin: OriginDep) -> dict[str, Any]:
    rows = rm.rooms_of(read_models, caller.user_id)
    return ok(_rooms(read_models, origin, caller.user_id, rows))


@router.post("/rooms")
def create_room(
    body: cmd.CreateRoom,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    read_models: ReadModelsDep,
    origin: OriginDep,
) -> dict[str, Any]:
    outcome = cmd.create_room(writes.bus, ctx, creator_id=caller.user_id, command=body)
    room_id = int(outcome.result["room_id"])
    writes.services.wait_applied(rm.chat, outcome, room_aggregate_id(room_id))
    return ok(_room(read_models, origin, caller.user_id, room_id))


@router.post("/rooms/{room_id}/join")
def join_room(
    room_id: Int64,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    read_models: ReadModelsDep,
    origin: OriginDep,
) -> dict[str, Any]:
    command = cmd.JoinRoom(room_id=room_id, user_id=caller.user_id)
    _issue(writes, cmd.join_room, ctx, command, room_id)
    return ok(_room(read_models, origin, caller.user_id, room_id))


@router.post("/rooms/{room_id}/leave")
def leave_room(
    room_id: Int64, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.LeaveRoom(room_id=room_id, user_id=caller.user_id)
    _issue(writes, cmd.leave_room, ctx, command, room_id)
    return ok({"roomId": room_id, "left": True})


@router.post("/read-status/rooms/{room_id}/read-all")
def read_all(
    room_id: Int64, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.MarkRoomRead(room_id=room_id, user_id=caller.user_id)
    _issue(writes, cmd.mark_room_read, ctx, command, room_id)
    return ok({"roomId": room_id, "unreadCount": 0})


@router.get("/rooms/{room_id}/messages")
def messages(
    room_id: Int64,
    caller: CallerDep,
    read_models: ReadModelsDep,
    origin: OriginDep,
    page: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 0,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The latest ``size`` messages (page 0), oldest first; members only."""
    _require_member(read_models, caller.user_id, room_id)
    rows = rm.messages_of(read_models, room_id, page=page, size=size)
    people = people_of(read_models, origin, sorted({r["sender_id"] for r in rows}))
    return ok([rm.message_view(r, people[r["sender_id"]]) for r in rows])


@router.post("/rooms/{room_id}/images", responses=error_responses(413))
async def upload_images(
    room_id: Int64,
    caller: CallerDep,
    read_models: ReadModelsDep,
    settings: SettingsDep,
    blobs: BlobsDep,
    files: Annotated[list[UploadFile], File()],
) -> dict[str, Any]:
    """Pictures for an image message: checked, re-encoded without metadata, stored under
    unguessable keys; the SPA then sends the returned URLs in the message."""
    await run_in_threadpool(_require_member, read_models, caller.user_id, room_id)
    if not 1 <= len(files) <= MAX_IMAGES:
        raise ApiError(422, f"send 1 to {MAX_IMAGES} images", "VALIDATION_ERROR")
    urls, max_bytes = [], settings.image_max_bytes
    for upload in files:
        data = await upload.read(max_bytes + 1)
        try:
            photo = await run_in_threadpool(process_photo, data, max_bytes=max_bytes)
        except ImageRejected as exc:
            status = 413 if exc.code == "IMAGE_TOO_LARGE" else 422
            raise ApiError(
                status, "이미지를 처리할 수 없습니다 (image rejected)", exc.code
            ) from None
        key = f"{CHAT_IMAGE_PREFIX}{room_id}/{uuid4().hex}.webp"
        await run_in_threadpool(blobs.put, key, photo, "image/webp")
        urls.append(f"/api/v1/upload/file/{key}")
    return ok(urls)


@router.get("/read-status/total-unread-count")
def total_unread(caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    rooms = rm.rooms_of(read_models, caller.user_id)
    return ok({"totalUnreadCount": sum(int(r["unread_count"] or 0) for r in rooms)})


@router.get("/read-status/rooms/{room_id}/unread-count")
def room_unread(room_id: Int64, caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    _require_member(read_models, caller.user_id, room_id)
    (room,) = rm.rooms_of(read_models, caller.user_id, room_id)
    return ok({"roomId": room_id, "unreadCount": int(room["unread_count"] or 0)})


# -- STOMP socket (contract 5.1) ----------------------------------------------------------
ROOM_DESTINATION = re.compile(r"^/sub/chat/room/(\d{1,16})(/typing)?$")
AUDIO_DATA_URL = re.compile(
    r"^data:(audio/(?:webm|ogg|mp4|mpeg|wav))(?:;[^,]*)?;base64,(.*)$", re.S
)


class ChatDestinations:
    """Rooms are subscribed to only by their members; SEND posts or signals typing.

    The STOMP session hands each call the whole ``Services``: a socket lives outside
    FastAPI's per-route dependencies, and posting uses many of them (read models,
    settings, blobs, the fan-out, the bus)."""

    def channel_for(self, rt: Services, user_id: str, destination: str) -> str | None:
        if destination == "/user/queue/rooms":
            return user_channel(user_id, "rooms")
        if destination == "/sub/chat/public-rooms":
            return PUBLIC_ROOMS_CHANNEL
        match = ROOM_DESTINATION.match(destination)
        if match is None:
            return None
        room_id = int(match.group(1))
        if user_id not in rm.participants_of(rt.read_models, [room_id])[room_id]:
            return None
        return typing_channel(room_id) if match.group(2) else room_channel(room_id)

    def on_send(self, rt: Services, user_id: str, destination: str, body: bytes) -> None:
        payload = json.loads(body or b"{}")
        if not isinstance(payload, dict):
            raise ValueError("a SEND body must be a JSON object")
        if destination == "/pub/chat/message":
            self._post(rt, user_id, payload, len(body))
        elif destination == "/pub/chat/typing":
            self._typing(rt, user_id, payload)
        else:
            raise ValueError(f"unknown destination {destination[:60]!r}")

    def _post(self, rt: Services, user_id: str, payload: dict[str, Any], size: int) -> None:
        audio = payload.pop("audioData", None)
        if size - (len(audio) if isinstance(audio, str) else 0) > rt.settings.ws_max_message_bytes:
            # The chat socket takes large frames for voice messages only: anything else
            # would be stored as an event and sent to every member.
            raise ValueError("a message without its voice data is larger than any socket's")
        command = cmd.PostMessage.model_validate(payload)
        if audio:
            command = command.model_copy(
                update={"audio_url": _store_audio(rt.settings, rt.blobs, command.room_id, audio)}
            )
        watching = rt.fanout.listeners(room_channel(command.room_id), time.time())
        cmd.post_message(
            rt.bus,
            CommandContext(actor_id=user_id),
            sender_id=user_id,
            command=command,
            watching=frozenset(watching),
        )

    def _typing(self, rt: Services, user_id: str, payload: dict[str, Any]) -> None:
        room_id = int(payload.get("roomId", 0))
        if user_id not in rm.participants_of(rt.read_models, [room_id]).get(room_id, []):
            raise ValueError("typing in a room one is not in")
        me = rm.people(rt.read_models, [user_id])[user_id]
        rt.fanout.publish(
            typing_channel(room_id),
            {
                "userId": user_id,
                "userName": me["name"],
                "userProfileImage": me["profileImage"],
                "isTyping": bool(payload.get("isTyping")),
                "timestamp": payload.get("timestamp"),
            },
        )


def _store_audio(settings: Settings, blobs: BlobStore, room_id: int, data_url: Any) -> str:
    """Decode a voice message's ``data:audio/...;base64,`` URL, check it, store it."""
    match = AUDIO_DATA_URL.match(data_url) if isinstance(data_url, str) else None
    if match is None:
        raise ValueError("audioData must be a base64 data: URL of an audio type")
    try:
        audio = base64.b64decode(match.group(2), validate=True)
    except binascii.Error as exc:
        raise ValueError("audioData is not valid base64") from exc
    if not audio or len(audio) > settings.chat_voice_max_bytes:
        raise ValueError("a voice message is empty or too large")
    key = f"{CHAT_AUDIO_PREFIX}{room_id}/{uuid4().hex}"
    blobs.put(key, audio, match.group(1))
    return f"/api/v1/upload/file/{key}"


@sockets.websocket("/ws/chat")
async def chat_socket(websocket: WebSocket) -> None:
    rt: Services = websocket.app.state.runtime
    await StompSession(
        websocket, rt, ChatDestinations(), max_frame_bytes=rt.settings.chat_frame_max_bytes
    ).run()

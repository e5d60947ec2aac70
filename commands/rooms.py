"""Room commands: create a WebRTC room, join it (creating an unknown one, as the SPA
expects), leave it."""

from __future__ import annotations

import secrets
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from commands.base import CommandBus, CommandContext, Outcome, UnitOfWork
from domain.rooms import MAX_PARTICIPANTS, MIN_PARTICIPANTS, Room, room_key


class RoomMetadata(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)

    title: str = Field(default="Session", max_length=100)
    language: str | None = Field(default=None, max_length=20)
    is_private: bool = Field(default=False, alias="isPrivate")


class CreateRoom(BaseModel):
    """``POST /room/create`` as ``SessionCreate.jsx`` sends it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    room_type: Literal["audio", "video"] = Field(default="video", alias="roomType")
    max_participants: int = Field(
        default=2, ge=MIN_PARTICIPANTS, le=MAX_PARTICIPANTS, alias="maxParticipants"
    )
    metadata: RoomMetadata = Field(default_factory=RoomMetadata)


class RoomCreated(TypedDict):
    room_id: str


class RoomOpened(RoomCreated):
    """The room, and how many seats it has."""

    max_participants: int


def create_room(
    bus: CommandBus,
    ctx: CommandContext,
    command: CreateRoom,
    *,
    created_by: str | None,
    session_id: str | None = None,
) -> Outcome[RoomCreated]:
    def decide(uow: UnitOfWork) -> RoomCreated:
        room_id = secrets.token_urlsafe(16)  # unguessable: the SPA's socket has no token
        room = uow.create(Room, room_key(room_id))
        room.create(uow.cause, room_id=room_id, room_type=command.room_type,
                    max_participants=command.max_participants, title=command.metadata.title,
                    language=command.metadata.language, is_private=command.metadata.is_private,
                    created_by=created_by, session_id=session_id)  # fmt: skip
        return {"room_id": room_id}

    return bus.run("rooms.CreateRoom", ctx, decide)


def open_room(
    bus: CommandBus, ctx: CommandContext, *, room_id: str, user_id: str
) -> Outcome[RoomOpened]:
    """The room, created as a 1:1 video room if nobody made it yet (``POST /room/{id}/join``
    on a room the SPA named itself)."""

    def decide(uow: UnitOfWork) -> RoomOpened:
        room = uow.load(Room, room_key(room_id))
        if not room.version:
            room.create(uow.cause, room_id=room_id, room_type="video",
                        max_participants=MIN_PARTICIPANTS, title="Session",
                        created_by=user_id)  # fmt: skip
        return {"room_id": room_id, "max_participants": room.max_participants}

    return bus.run("rooms.OpenRoom", ctx, decide)


def join_call(
    bus: CommandBus, ctx: CommandContext, *, room_id: str, user_id: str, user_name: str
) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        uow.load(Room, room_key(room_id)).join(uow.cause, user_id=user_id, user_name=user_name)
        return {"room_id": room_id}

    return bus.run("rooms.JoinCall", ctx, decide)


def leave_room(bus: CommandBus, ctx: CommandContext, *, room_id: str, user_id: str) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        uow.load(Room, room_key(room_id)).leave(uow.cause, user_id=user_id)
        return {"room_id": room_id}

    return bus.run("rooms.LeaveRoom", ctx, decide)

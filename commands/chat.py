"""Chat commands: rooms (create, open for a match, join, leave, mark read) and posting."""

from __future__ import annotations

import secrets
from typing import Any, Literal, TypedDict
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field

from commands.base import Command, CommandBus, CommandContext, OnOne, Outcome, UnitOfWork
from domain.aggregate import Cause
from domain.chat import (
    MAX_GROUP_PARTICIPANTS,
    MAX_TEXT,
    ROOM_NUMBER_LIMIT,
    ChatMessage,
    ChatRoom,
    direct_room_id,
    message_aggregate_id,
    room_aggregate_id,
)


class CreateRoom(BaseModel):
    """``POST /chat/rooms`` as the SPA's modal sends it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)

    room_name: str = Field(min_length=1, max_length=100, alias="roomName")
    room_type: Literal["GROUP"] = Field(default="GROUP", alias="roomType")
    is_public: bool = Field(default=True, alias="isPublic")
    max_participants: int = Field(
        default=4, ge=2, le=MAX_GROUP_PARTICIPANTS, alias="maxParticipants"
    )
    participant_ids: list[str] = Field(
        default_factory=list, max_length=MAX_GROUP_PARTICIPANTS, alias="participantIds"
    )


class PostMessage(BaseModel):
    """A message as the STOMP ``SEND /pub/chat/message`` body carries it (media already
    stored: image URLs from the upload route, audio from the decoded data URL)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    room_id: int = Field(ge=1, lt=ROOM_NUMBER_LIMIT, alias="roomId")
    message: str = Field(default="", max_length=MAX_TEXT)
    image_urls: list[str] = Field(default_factory=list, max_length=10, alias="imageUrls")
    audio_url: str | None = Field(default=None, max_length=500, alias="audioUrl")
    audio_duration: float | None = Field(default=None, ge=0, le=600, alias="audioDuration")
    client_message_id: str | None = Field(
        default=None, min_length=1, max_length=64, alias="clientMessageId"
    )


class ChatRoomCreated(TypedDict):
    room_id: int


def create_room(
    bus: CommandBus, ctx: CommandContext, *, creator_id: str, command: CreateRoom
) -> Outcome[ChatRoomCreated]:
    def decide(uow: UnitOfWork) -> ChatRoomCreated:
        # A random number per attempt: a clash with an existing room is a version conflict,
        # and the bus retries this decision with a new number.
        room_id = secrets.randbelow(ROOM_NUMBER_LIMIT - 1) + 1
        room = uow.create(ChatRoom, room_aggregate_id(room_id))
        room.create(
            uow.cause,
            room_id=room_id,
            name=command.room_name,
            room_type="GROUP",
            is_public=command.is_public,
            max_participants=command.max_participants,
            created_by=creator_id,
            participant_ids=command.participant_ids,
        )
        return {"room_id": room_id}

    return bus.run("chat.CreateRoom", ctx, decide)


def open_direct_room(
    bus: CommandBus,
    ctx: CommandContext,
    *,
    user_a: str,
    user_b: str,
    match_id: str | None,
    name: str,
) -> Outcome:
    """The pair's 1:1 room; opening it again (a second match, a redelivered event) is a no-op."""
    room_id = direct_room_id(user_a, user_b)

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        room = uow.load(ChatRoom, room_aggregate_id(room_id))
        if room.version == 0:
            room.create(
                uow.cause,
                room_id=room_id,
                name=name,
                room_type="DIRECT",
                is_public=False,
                max_participants=2,
                created_by=user_a,
                participant_ids=[user_b],
                origin_match_id=match_id,
            )
        return {"room_id": room_id}

    return bus.run("chat.OpenDirectRoom", ctx, decide)


class RoomCommand(Command):
    """What a user does in one room (``user_id``: who does it)."""

    room_id: int
    user_id: str = Field(max_length=36)


on_room = OnOne(ChatRoom, lambda c: room_aggregate_id(c.room_id))


class JoinRoom(RoomCommand):
    """Join a public group room (a no-op for a member)."""


@on_room
def join_room(room: ChatRoom, cause: Cause, command: JoinRoom) -> dict[str, Any]:
    room.join(cause, command.user_id)
    return {"room_id": command.room_id}


class LeaveRoom(RoomCommand):
    """Leave a room; its creator only once nobody else remains."""


@on_room
def leave_room(room: ChatRoom, cause: Cause, command: LeaveRoom) -> dict[str, Any]:
    room.leave(cause, command.user_id)
    return {"room_id": command.room_id}


class MarkRoomRead(RoomCommand):
    """Everything in the room so far counts as read by the user."""


@on_room
def mark_room_read(room: ChatRoom, cause: Cause, command: MarkRoomRead) -> dict[str, Any]:
    room.mark_read(cause, command.user_id)
    return {"room_id": command.room_id}


def post_message(
    bus: CommandBus,
    ctx: CommandContext,
    *,
    sender_id: str,
    command: PostMessage,
    watching: frozenset[str] = frozenset(),
) -> Outcome:
    """Post to a room the sender is in. Without a client message id every call is a new
    message; with one, a resend returns the first message and appends nothing."""
    client_id = command.client_message_id or str(uuid4())
    message_id = message_aggregate_id(command.room_id, client_id)

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        room = uow.load(ChatRoom, room_aggregate_id(command.room_id))
        # A fresh random id cannot exist yet: skip the read; a client's id may be a resend.
        if command.client_message_id is None:
            message = uow.create(ChatMessage, message_id)
        else:
            message = uow.load(ChatMessage, message_id)
        posted = message.post(
            uow.cause,
            room,
            sender_id=sender_id,
            client_message_id=client_id,
            text=command.message,
            image_urls=command.image_urls,
            audio_url=command.audio_url,
            audio_duration=command.audio_duration,
            watching=watching,
        )
        return {"message_id": posted, "room_id": command.room_id}

    return bus.run("chat.PostMessage", ctx, decide)

"""Chat: rooms, who is in them, and the messages posted there.

Two aggregates, because they change at different rates. A ``ChatRoom`` holds membership
and read marks, a handful of events per room. Each message is its own ``ChatMessage``
aggregate whose id derives from the room and the client's message id, so a resent message
collides with the first one in the event store instead of being stored twice, and a busy
room never has to replay its whole history to accept one more line.

Rooms are numbered (the SPA compares ``roomId`` as a number): a direct room's number is
derived from the pair, so the room opened for a match is the same whoever asks first and
however often; a group room gets a random number (a clash is a version conflict in the
store and the command retries with another). Numbers stay below 2^52, exact in JavaScript.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid5

from pydantic import Field

from domain.aggregate import Aggregate, Cause, applies
from domain.errors import Conflict, Forbidden, NotFound, RuleViolation
from domain.events import DomainEvent, Personal

ROOM_NAMESPACE = UUID("0b6f2f4e-9a53-4d8e-b1a7-3c5e8f2d9a61")
ROOM_NUMBER_LIMIT = 2**52
MAX_GROUP_PARTICIPANTS = 50
MAX_TEXT = 1000
RoomType = Literal["DIRECT", "GROUP"]
MessageType = Literal["TEXT", "IMAGE", "AUDIO", "MIXED"]


def room_aggregate_id(room_id: int) -> UUID:
    return uuid5(ROOM_NAMESPACE, f"room-{room_id}")


def direct_room_id(user_a: str, user_b: str) -> int:
    first, second = sorted((user_a, user_b))
    digest = hashlib.sha256(f"direct|{first}|{second}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % ROOM_NUMBER_LIMIT or 1


def message_aggregate_id(room_id: int, client_message_id: str) -> UUID:
    return uuid5(room_aggregate_id(room_id), f"message-{client_message_id}")


class ChatRoomCreated(DomainEvent):
    topic = "chat.ChatRoomCreated"

    room_id: int = Field(ge=1, lt=ROOM_NUMBER_LIMIT)
    name: str = Field(max_length=100)
    room_type: RoomType
    is_public: bool
    max_participants: int = Field(ge=2, le=MAX_GROUP_PARTICIPANTS)
    created_by: str = Field(max_length=36)
    participant_ids: list[str] = Field(min_length=1, max_length=MAX_GROUP_PARTICIPANTS)
    origin_match_id: str | None = Field(default=None, max_length=36)


class ChatParticipantJoined(DomainEvent):
    topic = "chat.ChatParticipantJoined"

    room_id: int
    user_id: str = Field(max_length=36)


class ChatParticipantLeft(DomainEvent):
    topic = "chat.ChatParticipantLeft"

    room_id: int
    user_id: str = Field(max_length=36)


class ChatRoomClosed(DomainEvent):
    """The last participant left; the room and its messages stop being listed."""

    topic = "chat.ChatRoomClosed"

    room_id: int
    by_user_id: str = Field(max_length=36)


class ChatRoomRead(DomainEvent):
    """A participant has read everything posted up to ``read_at`` (a watermark)."""

    topic = "chat.ChatRoomRead"

    room_id: int
    user_id: str = Field(max_length=36)
    read_at: datetime


class ChatMessagePosted(DomainEvent):
    topic = "chat.ChatMessagePosted"
    personal_subject = "sender_id"

    room_id: int
    message_id: str = Field(max_length=36)
    client_message_id: str = Field(max_length=64)
    sender_id: str = Field(max_length=36)
    text: Personal = Field(default="", max_length=MAX_TEXT)
    image_urls: list[str] = Field(default_factory=list, max_length=10)
    audio_url: str | None = Field(default=None, max_length=500)
    audio_duration: float | None = Field(default=None, ge=0)
    message_type: MessageType
    watching: list[str] = Field(default_factory=list, max_length=MAX_GROUP_PARTICIPANTS)
    """Members who had the room open when it was posted (they saw it live), recorded so the
    notifications it causes do not depend on when a policy happens to process it."""
    members: list[str] | None = Field(default=None, max_length=MAX_GROUP_PARTICIPANTS)
    """The room's members when it was posted, for the same reason: whom a message concerns
    follows from the event, not from the room's read model when a policy gets there (a
    member who has left since is still told, as of any message sent while they were in the
    room), and the notifier reads no room membership per message. ``None`` in messages
    stored before it was recorded."""


def owner_of(room_type: RoomType, created_by: str) -> str | None:
    """Who owns a room: a group room's creator (they cannot leave while others remain);
    nobody in a 1:1 room, which a policy opens for both members of a match alike."""
    return created_by if room_type == "GROUP" else None


class ChatRoom(Aggregate):
    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.room_id = 0
        self.room_type: RoomType = "GROUP"
        self.created_by = ""
        self.max_participants = 0
        self.participants: set[str] = set()
        self.closed = False

    @property
    def exists(self) -> bool:
        return self.version > 0 and not self.closed

    def create(
        self,
        cause: Cause,
        *,
        room_id: int,
        name: str,
        room_type: RoomType,
        is_public: bool,
        max_participants: int,
        created_by: str,
        participant_ids: list[str],
        origin_match_id: str | None = None,
    ) -> None:
        if self.version > 0:
            raise Conflict("the room already exists", code="ROOM_EXISTS")
        if room_aggregate_id(room_id) != self.id:
            raise ValueError("room number does not match the aggregate")
        members = list(dict.fromkeys([created_by, *participant_ids]))
        if len(members) > max_participants:
            raise RuleViolation("more participants than the room allows", code="ROOM_FULL")
        self._record(
            ChatRoomCreated,
            cause,
            room_id=room_id,
            name=name,
            room_type=room_type,
            is_public=is_public,
            max_participants=max_participants,
            created_by=created_by,
            participant_ids=members,
            origin_match_id=origin_match_id,
        )

    def join(self, cause: Cause, user_id: str) -> None:
        """Idempotent: joining a room one is in changes nothing (the SPA joins on click)."""
        self._require_open()
        if user_id in self.participants:
            return
        if self.room_type == "DIRECT":
            raise Forbidden("a direct room is only for its two members", code="ROOM_PRIVATE")
        if len(self.participants) >= self.max_participants:
            raise RuleViolation("the room is full", code="ROOM_FULL")
        self._record(ChatParticipantJoined, cause, room_id=self.room_id, user_id=user_id)

    def leave(self, cause: Cause, user_id: str) -> None:
        self.require_member(user_id)
        others = self.participants - {user_id}
        if user_id == owner_of(self.room_type, self.created_by) and others:
            raise Forbidden(
                "the creator cannot leave while others remain", code="ROOM_CREATOR_CANNOT_LEAVE"
            )
        self._record(ChatParticipantLeft, cause, room_id=self.room_id, user_id=user_id)
        if not others:
            self._record(ChatRoomClosed, cause, room_id=self.room_id, by_user_id=user_id)

    def mark_read(self, cause: Cause, user_id: str) -> None:
        self.require_member(user_id)
        self._record(
            ChatRoomRead, cause, room_id=self.room_id, user_id=user_id, read_at=cause.occurred_at
        )

    def require_member(self, user_id: str) -> None:
        """Rooms one is not in look like rooms that do not exist (no probing of ids)."""
        if not self.exists or user_id not in self.participants:
            raise NotFound("no such chat room", code="ROOM_NOT_FOUND")

    def _require_open(self) -> None:
        if not self.exists:
            raise NotFound("no such chat room", code="ROOM_NOT_FOUND")

    @applies(ChatRoomCreated)
    def _created(self, e: ChatRoomCreated) -> None:
        self.room_id, self.room_type, self.created_by = e.room_id, e.room_type, e.created_by
        self.max_participants = e.max_participants
        self.participants = set(e.participant_ids)

    @applies(ChatParticipantJoined)
    def _joined(self, e: ChatParticipantJoined) -> None:
        self.participants.add(e.user_id)

    @applies(ChatParticipantLeft)
    def _left(self, e: ChatParticipantLeft) -> None:
        self.participants.discard(e.user_id)

    @applies(ChatRoomClosed)
    def _closed(self, e: ChatRoomClosed) -> None:
        self.closed = True

    @applies(ChatRoomRead)
    def _read(self, e: ChatRoomRead) -> None:
        pass


class ChatMessage(Aggregate):
    def post(
        self,
        cause: Cause,
        room: ChatRoom,
        *,
        sender_id: str,
        client_message_id: str,
        text: str,
        image_urls: list[str],
        audio_url: str | None,
        audio_duration: float | None,
        watching: frozenset[str] = frozenset(),
    ) -> str:
        """Post once; the same client message id again returns the first message's id."""
        room.require_member(sender_id)
        if message_aggregate_id(room.room_id, client_message_id) != self.id:
            raise ValueError("message id does not match the aggregate")
        if self.version > 0:
            return str(self.id)
        text = text.strip()
        if not (text or image_urls or audio_url):
            raise RuleViolation("a message needs text, an image or audio", code="EMPTY_MESSAGE")
        kinds = [kind for kind, present in (("TEXT", text), ("IMAGE", image_urls)) if present]
        if audio_url:
            kinds.append("AUDIO")
        message_type = kinds[0] if len(kinds) == 1 else "MIXED"
        if kinds == ["TEXT", "IMAGE"]:
            message_type = "IMAGE"  # a caption under a picture renders as an image message
        self._record(
            ChatMessagePosted,
            cause,
            room_id=room.room_id,
            message_id=str(self.id),
            client_message_id=client_message_id,
            sender_id=sender_id,
            text=text,
            image_urls=image_urls,
            audio_url=audio_url,
            audio_duration=audio_duration,
            message_type=message_type,
            watching=sorted(watching & room.participants),
            members=sorted(room.participants),
        )
        return str(self.id)

    @applies(ChatMessagePosted)
    def _posted(self, e: ChatMessagePosted) -> None:
        pass

"""WebRTC rooms: an audio or video call's lifecycle, recorded so session analytics can
count calls, participants and minutes.

The media and the signalling never touch the event store; only the facts do: a room was
created, someone joined the call (their signalling socket was admitted and seated),
someone left, a call ended when its last participant left (a later
join opens the next call in the same room: partners reuse their room). A room
id is normally server-made and unguessable; the SPA may also name a room itself (the mates
page links ``/session/video/{partnerUserId}``), and joining an unknown room creates it, as
the original did.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid5

from pydantic import Field

from domain.aggregate import Aggregate, Cause, applies
from domain.errors import Conflict, NotFound, RuleViolation
from domain.events import DomainEvent, Personal

ROOM_NAMESPACE = UUID("7f0c2b9e-5d41-4e6a-8c3f-1a2b3c4d5e6f")
ROOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MIN_PARTICIPANTS, MAX_PARTICIPANTS = 2, 10
RoomKind = Literal["audio", "video"]


def room_key(room_id: str) -> UUID:
    if not ROOM_ID.match(room_id):
        raise RuleViolation("room ids are 1-64 letters, digits, '-' or '_'", code="INVALID_ROOM")
    return uuid5(ROOM_NAMESPACE, room_id)


class RoomCreated(DomainEvent):
    topic = "rooms.RoomCreated"

    room_id: str = Field(max_length=64)
    room_type: RoomKind
    max_participants: int = Field(ge=MIN_PARTICIPANTS, le=MAX_PARTICIPANTS)
    title: str = Field(max_length=100)
    language: str | None = Field(default=None, max_length=20)
    is_private: bool = False
    created_by: str | None = Field(default=None, max_length=64)
    session_id: str | None = Field(default=None, max_length=36)


class RoomJoined(DomainEvent):
    topic = "rooms.RoomJoined"
    personal_subject = "user_id"

    room_id: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    user_name: Personal = Field(max_length=100)


class RoomLeft(DomainEvent):
    topic = "rooms.RoomLeft"

    room_id: str = Field(max_length=64)
    user_id: str = Field(max_length=64)


class RoomEnded(DomainEvent):
    """The last participant left: how long the call ran and how many were in it at most."""

    topic = "rooms.RoomEnded"

    room_id: str = Field(max_length=64)
    duration_seconds: int = Field(ge=0)
    peak_participants: int = Field(ge=0)


class Room(Aggregate):
    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.room_id = ""
        self.max_participants = MIN_PARTICIPANTS
        self.participants: dict[str, datetime] = {}
        self.peak = 0
        self.opened_at: datetime | None = None
        """When the current call began (its first join); None between calls."""

    def create(
        self,
        cause: Cause,
        *,
        room_id: str,
        room_type: RoomKind,
        max_participants: int,
        title: str,
        language: str | None = None,
        is_private: bool = False,
        created_by: str | None = None,
        session_id: str | None = None,
    ) -> None:
        if room_key(room_id) != self.id:
            raise ValueError("room created on another room's aggregate")
        if self.version:
            raise Conflict("the room exists already", code="ROOM_EXISTS")
        if not MIN_PARTICIPANTS <= max_participants <= MAX_PARTICIPANTS:
            raise RuleViolation(
                f"a room holds {MIN_PARTICIPANTS} to {MAX_PARTICIPANTS} participants",
                code="INVALID_ROOM_SIZE",
            )
        self._record(RoomCreated, cause, room_id=room_id, room_type=room_type,
                     max_participants=max_participants, title=title.strip() or "Session",
                     language=language, is_private=is_private, created_by=created_by,
                     session_id=session_id)  # fmt: skip

    def join(self, cause: Cause, *, user_id: str, user_name: str) -> None:
        """Someone is in the call (their signalling socket took a seat; the seats themselves
        are counted live, across processes, by ``infra.room_registry``). Idempotent."""
        if not self.version:
            raise NotFound("no such room", code="ROOM_NOT_FOUND")
        if user_id in self.participants:
            return
        self._record(RoomJoined, cause, room_id=self.room_id, user_id=user_id,
                     user_name=user_name.strip()[:100] or "Anonymous")  # fmt: skip

    def leave(self, cause: Cause, *, user_id: str) -> None:
        """Leaving twice records nothing; the last one out ends the room."""
        if user_id not in self.participants:
            return
        self._record(RoomLeft, cause, room_id=self.room_id, user_id=user_id)
        if not self.participants and self.opened_at is not None:
            seconds = int((cause.occurred_at - self.opened_at).total_seconds())
            self._record(RoomEnded, cause, room_id=self.room_id, duration_seconds=max(seconds, 0),
                         peak_participants=self.peak)  # fmt: skip

    @applies(RoomCreated)
    def _created(self, e: RoomCreated) -> None:
        self.room_id, self.max_participants = e.room_id, e.max_participants

    @applies(RoomJoined)
    def _joined(self, e: RoomJoined) -> None:
        if not self.participants:
            self.opened_at, self.peak = e.meta.occurred_at, 0
        self.participants[e.user_id] = e.meta.occurred_at
        self.peak = max(self.peak, len(self.participants))

    @applies(RoomLeft)
    def _left(self, e: RoomLeft) -> None:
        self.participants.pop(e.user_id, None)

    @applies(RoomEnded)
    def _ended(self, e: RoomEnded) -> None:
        self.opened_at = None

"""Group sessions: a host runs a call on a topic for learners of one language within a CEFR
level range, with a capacity. The seats are the aggregate's own state, so two people taking
the last seat at once cannot both get it (the second save is a version conflict, retried
against the full session). A participant the host removed cannot come back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from pydantic import Field

from domain.aggregate import Aggregate, Cause, applies
from domain.errors import Conflict, Forbidden, NotFound, RuleViolation
from domain.events import DomainEvent
from domain.sessions import CEFR, DURATIONS, HORIZON, LEAD_TIME, START_EARLY

GroupStatus = Literal["scheduled", "active", "ended", "cancelled"]
MIN_CAPACITY, MAX_CAPACITY = 3, 10
"""At most what one WebRTC room holds (``domain.rooms``)."""


class GroupSessionCreated(DomainEvent):
    topic = "sessions.GroupSessionCreated"

    session_id: str = Field(max_length=36)
    host_id: str = Field(max_length=36)
    title: str = Field(max_length=100)
    topic_name: str = Field(max_length=60)
    language_id: int = Field(ge=1)
    level_min: str = Field(pattern="^(A1|A2|B1|B2|C1|C2)$")
    level_max: str = Field(pattern="^(A1|A2|B1|B2|C1|C2)$")
    capacity: int = Field(ge=MIN_CAPACITY, le=MAX_CAPACITY)
    starts_at: datetime
    duration_minutes: int = Field(ge=15, le=120)
    room_id: str = Field(max_length=64)


class GroupSessionJoined(DomainEvent):
    topic = "sessions.GroupSessionJoined"

    session_id: str = Field(max_length=36)
    user_id: str = Field(max_length=36)


class GroupSessionLeft(DomainEvent):
    topic = "sessions.GroupSessionLeft"

    session_id: str = Field(max_length=36)
    user_id: str = Field(max_length=36)


class GroupParticipantRemoved(DomainEvent):
    topic = "sessions.GroupParticipantRemoved"

    session_id: str = Field(max_length=36)
    user_id: str = Field(max_length=36)


class GroupSessionStarted(DomainEvent):
    topic = "sessions.GroupSessionStarted"

    session_id: str = Field(max_length=36)


class GroupSessionEnded(DomainEvent):
    topic = "sessions.GroupSessionEnded"

    session_id: str = Field(max_length=36)
    minutes: int = Field(ge=1, le=240)


class GroupSessionCancelled(DomainEvent):
    topic = "sessions.GroupSessionCancelled"

    session_id: str = Field(max_length=36)
    reason: str = Field(default="", max_length=300)


class GroupSession(Aggregate):
    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.session_id = self.host_id = ""
        self.status: GroupStatus = "scheduled"
        self.language_id = 0
        self.levels: tuple[int, int] = (0, len(CEFR) - 1)
        self.capacity = MIN_CAPACITY
        self.members: list[str] = []
        self.removed: set[str] = set()
        self.starts_at: datetime | None = None
        self.started_at: datetime | None = None

    def create(
        self,
        cause: Cause,
        *,
        session_id: str,
        host_id: str,
        title: str,
        topic_name: str,
        language_id: int,
        level_min: str,
        level_max: str,
        capacity: int,
        starts_at: datetime,
        duration_minutes: int,
        room_id: str,
    ) -> None:
        if self.version:
            raise Conflict("the session exists already", code="SESSION_EXISTS")
        if CEFR.index(level_min) > CEFR.index(level_max):
            raise RuleViolation("the level range is upside down", code="SESSION_LEVELS")
        if not cause.occurred_at + LEAD_TIME <= starts_at <= cause.occurred_at + HORIZON:
            raise RuleViolation("sessions start between 5 minutes and 90 days from now",
                                code="SESSION_TIME")  # fmt: skip
        if duration_minutes not in DURATIONS:
            raise RuleViolation("sessions last 15 to 120 minutes, in steps of 15",
                                code="SESSION_DURATION")  # fmt: skip
        self._record(GroupSessionCreated, cause, session_id=session_id, host_id=host_id,
                     title=title.strip() or "Group session", topic_name=topic_name.strip(),
                     language_id=language_id, level_min=level_min, level_max=level_max,
                     capacity=capacity, starts_at=starts_at, duration_minutes=duration_minutes,
                     room_id=room_id)  # fmt: skip

    def join(self, cause: Cause, user_id: str, level: str | None) -> None:
        """``level`` is the joiner's CEFR level in the session's language (None: unknown)."""
        self._require_exists()
        if user_id in self.members:
            return
        if self.status not in ("scheduled", "active"):
            raise Conflict(f"the session is {self.status}", code="SESSION_STATE")
        if user_id in self.removed:
            raise Forbidden("the host removed you from this session", code="SESSION_REMOVED")
        if level is None or not self.levels[0] <= CEFR.index(level) <= self.levels[1]:
            low, high = CEFR[self.levels[0]], CEFR[self.levels[1]]
            raise RuleViolation(f"this session is for levels {low} to {high}",
                                code="SESSION_LEVEL_MISMATCH")  # fmt: skip
        if len(self.members) >= self.capacity:
            raise Conflict("the session is full", code="SESSION_FULL")
        self._record(GroupSessionJoined, cause, session_id=self.session_id, user_id=user_id)

    def leave(self, cause: Cause, user_id: str) -> None:
        self._require_exists()
        if user_id == self.host_id:
            raise RuleViolation("the host cancels or ends the session instead",
                                code="SESSION_HOST_LEAVES")  # fmt: skip
        if user_id in self.members:
            self._record(GroupSessionLeft, cause, session_id=self.session_id, user_id=user_id)

    def remove(self, cause: Cause, by: str, user_id: str) -> None:
        self._require_host(by)
        if user_id == self.host_id:
            raise RuleViolation("the host cannot remove themselves", code="SESSION_HOST_LEAVES")
        if user_id in self.members:
            self._record(GroupParticipantRemoved, cause, session_id=self.session_id,
                         user_id=user_id)  # fmt: skip

    def start(self, cause: Cause, by: str) -> None:
        self._require_host(by)
        if self.status == "active":
            return
        if self.status != "scheduled":
            raise Conflict(f"the session is {self.status}", code="SESSION_STATE")
        assert self.starts_at is not None
        if cause.occurred_at < self.starts_at - START_EARLY:
            raise RuleViolation("a session starts at most 10 minutes early",
                                code="SESSION_NOT_STARTABLE")  # fmt: skip
        self._record(GroupSessionStarted, cause, session_id=self.session_id)

    def end(self, cause: Cause, by: str) -> None:
        self._require_host(by)
        if self.status != "active":
            raise Conflict(f"the session is {self.status}", code="SESSION_STATE")
        assert self.started_at is not None
        minutes = round((cause.occurred_at - self.started_at) / timedelta(minutes=1))
        self._record(GroupSessionEnded, cause, session_id=self.session_id,
                     minutes=max(1, min(minutes, 240)))  # fmt: skip

    def cancel(self, cause: Cause, by: str, reason: str = "") -> None:
        self._require_host(by)
        if self.status != "scheduled":
            raise Conflict(f"the session is {self.status}", code="SESSION_STATE")
        self._record(GroupSessionCancelled, cause, session_id=self.session_id,
                     reason=reason.strip()[:300])  # fmt: skip

    def _require_exists(self) -> None:
        if not self.version:
            raise NotFound("no such session", code="SESSION_NOT_FOUND")

    def _require_host(self, user_id: str) -> None:
        self._require_exists()
        if user_id != self.host_id:
            raise Forbidden("only the host can do that", code="SESSION_HOST_ONLY")

    @applies(GroupSessionCreated)
    def _created(self, e: GroupSessionCreated) -> None:
        self.session_id, self.host_id, self.language_id = e.session_id, e.host_id, e.language_id
        self.levels = (CEFR.index(e.level_min), CEFR.index(e.level_max))
        self.capacity, self.starts_at, self.members = e.capacity, e.starts_at, [e.host_id]

    @applies(GroupSessionJoined)
    def _joined(self, e: GroupSessionJoined) -> None:
        self.members.append(e.user_id)

    @applies(GroupSessionLeft, GroupParticipantRemoved)
    def _gone(self, e: GroupSessionLeft | GroupParticipantRemoved) -> None:
        self.members.remove(e.user_id)
        if isinstance(e, GroupParticipantRemoved):
            self.removed.add(e.user_id)

    @applies(GroupSessionStarted)
    def _started(self, e: GroupSessionStarted) -> None:
        self.status, self.started_at = "active", e.meta.occurred_at

    @applies(GroupSessionEnded)
    def _ended(self, e: GroupSessionEnded) -> None:
        self.status = "ended"

    @applies(GroupSessionCancelled)
    def _cancelled(self, e: GroupSessionCancelled) -> None:
        self.status = "cancelled"

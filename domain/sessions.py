"""Sessions: 1:1 calls two matched partners schedule, and group sessions a host runs.

A 1:1 ``Session`` is proposed by one partner and waits for the other to accept; moving it
sends it back to the other for acceptance. Every participant has an ``Agenda`` holding the
time slots of their pending and scheduled sessions; proposing, accepting or moving a
session holds the slot on both agendas in the same transaction, so two sessions can never
overlap for anyone, even when both are booked at the same instant (the second save meets a
newer agenda version, is retried, and sees the overlap).

A ``GroupSession`` has a host, a topic, a language, a CEFR level range and a capacity; its
seats are its own state, so two people taking the last seat cannot both get it.

Times are stored in UTC; users see them in their own time zone (the read side converts).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID, uuid5

from pydantic import Field

from domain.aggregate import Aggregate, Cause, applies
from domain.errors import Conflict, Forbidden, NotFound, RuleViolation
from domain.events import DomainEvent

SESSION_NAMESPACE = UUID("3e1f7a2c-9b64-4d85-a0c2-6f4b8e9d1a73")
SessionKind = Literal["AUDIO", "VIDEO"]
Status = Literal["pending", "scheduled", "in_progress", "completed", "cancelled", "declined",
                 "no_show"]  # fmt: skip
LEAD_TIME = timedelta(minutes=5)
HORIZON = timedelta(days=90)
START_EARLY = timedelta(minutes=10)
NO_SHOW_AFTER = timedelta(minutes=15)
DURATIONS = range(15, 121, 15)
CEFR = ("A1", "A2", "B1", "B2", "C1", "C2")


def agenda_id(user_id: str) -> UUID:
    return uuid5(SESSION_NAMESPACE, f"agenda|{user_id}")


# -- 1:1 sessions ---------------------------------------------------------------------------
class SessionProposed(DomainEvent):
    topic = "sessions.SessionProposed"

    session_id: str = Field(max_length=36)
    host_id: str = Field(max_length=36)
    guest_id: str = Field(max_length=36)
    title: str = Field(max_length=100)
    language_id: int = Field(ge=1)
    kind: SessionKind
    starts_at: datetime
    duration_minutes: int = Field(ge=15, le=120)
    room_id: str = Field(max_length=64)


class SessionAccepted(DomainEvent):
    topic = "sessions.SessionAccepted"

    session_id: str = Field(max_length=36)
    by: str = Field(max_length=36)


class SessionDeclined(DomainEvent):
    topic = "sessions.SessionDeclined"

    session_id: str = Field(max_length=36)
    by: str = Field(max_length=36)


class SessionRescheduled(DomainEvent):
    """Moved by one partner; it waits for the other's acceptance again."""

    topic = "sessions.SessionRescheduled"

    session_id: str = Field(max_length=36)
    by: str = Field(max_length=36)
    starts_at: datetime
    duration_minutes: int = Field(ge=15, le=120)


class SessionCancelled(DomainEvent):
    topic = "sessions.SessionCancelled"

    session_id: str = Field(max_length=36)
    by: str = Field(max_length=36)
    reason: str = Field(default="", max_length=300)


class SessionStarted(DomainEvent):
    topic = "sessions.SessionStarted"

    session_id: str = Field(max_length=36)
    by: str = Field(max_length=36)


class SessionCompleted(DomainEvent):
    topic = "sessions.SessionCompleted"

    session_id: str = Field(max_length=36)
    by: str = Field(max_length=36)
    minutes: int = Field(ge=1, le=240)


class SessionMissed(DomainEvent):
    """Nobody started it by ``NO_SHOW_AFTER`` past its start (a partner or the scheduler
    says so)."""

    topic = "sessions.SessionMissed"

    session_id: str = Field(max_length=36)
    by: str = Field(max_length=64)


class SessionReminded(DomainEvent):
    """The reminder before the start went out (once per session and start time)."""

    topic = "sessions.SessionReminded"

    session_id: str = Field(max_length=36)
    starts_at: datetime


class Session(Aggregate):
    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.session_id = ""
        self.host_id = self.guest_id = ""
        self.status: Status = "pending"
        self.awaiting = ""
        self.starts_at: datetime | None = None
        self.duration = 0
        self.started_at: datetime | None = None
        self.reminded_for: datetime | None = None

    @property
    def ends_at(self) -> datetime:
        assert self.starts_at is not None
        return self.starts_at + timedelta(minutes=self.duration)

    def propose(
        self,
        cause: Cause,
        *,
        session_id: str,
        host_id: str,
        guest_id: str,
        title: str,
        language_id: int,
        kind: SessionKind,
        starts_at: datetime,
        duration_minutes: int,
        room_id: str,
    ) -> None:
        if self.version:
            raise Conflict("the session exists already", code="SESSION_EXISTS")
        if host_id == guest_id:
            raise RuleViolation("a session needs a partner", code="SESSION_SELF")
        _check_time(cause.occurred_at, starts_at, duration_minutes)
        self._record(SessionProposed, cause, session_id=session_id, host_id=host_id,
                     guest_id=guest_id, title=title.strip() or "Study Session",
                     language_id=language_id, kind=kind, starts_at=starts_at,
                     duration_minutes=duration_minutes, room_id=room_id)  # fmt: skip

    def accept(self, cause: Cause, user_id: str) -> None:
        self._require_awaited(user_id)
        self._record(SessionAccepted, cause, session_id=self.session_id, by=user_id)

    def decline(self, cause: Cause, user_id: str) -> None:
        self._require_awaited(user_id)
        self._record(SessionDeclined, cause, session_id=self.session_id, by=user_id)

    def reschedule(
        self, cause: Cause, user_id: str, starts_at: datetime, duration_minutes: int
    ) -> None:
        self._require_member(user_id)
        self._require_status("pending", "scheduled")
        _check_time(cause.occurred_at, starts_at, duration_minutes)
        self._record(SessionRescheduled, cause, session_id=self.session_id, by=user_id,
                     starts_at=starts_at, duration_minutes=duration_minutes)  # fmt: skip

    def cancel(self, cause: Cause, user_id: str, reason: str = "") -> None:
        self._require_member(user_id)
        self._require_status("pending", "scheduled")
        self._record(SessionCancelled, cause, session_id=self.session_id, by=user_id,
                     reason=reason.strip()[:300])  # fmt: skip

    def start(self, cause: Cause, user_id: str) -> None:
        self._require_member(user_id)
        if self.status == "in_progress":
            return  # the partner started it already
        self._require_status("scheduled")
        if not self.starts_at or not (
            self.starts_at - START_EARLY <= cause.occurred_at <= self.ends_at
        ):
            raise RuleViolation("a session starts at most 10 minutes early and before its end",
                                code="SESSION_NOT_STARTABLE")  # fmt: skip
        self._record(SessionStarted, cause, session_id=self.session_id, by=user_id)

    def complete(self, cause: Cause, user_id: str) -> None:
        self._require_member(user_id)
        if self.status == "completed":
            return
        self._require_status("in_progress")
        assert self.started_at is not None
        elapsed = (cause.occurred_at - self.started_at).total_seconds() / 60
        minutes = max(1, min(round(elapsed), 240))
        self._record(SessionCompleted, cause, session_id=self.session_id, by=user_id,
                     minutes=minutes)  # fmt: skip

    def miss(self, cause: Cause, by: str) -> None:
        if by not in ("schedule", self.host_id, self.guest_id):
            raise NotFound("no such session", code="SESSION_NOT_FOUND")
        self._require_status("scheduled")
        if self.starts_at is None or cause.occurred_at < self.starts_at + NO_SHOW_AFTER:
            raise RuleViolation("too early to call it a no-show", code="SESSION_NOT_MISSED")
        self._record(SessionMissed, cause, session_id=self.session_id, by=by)

    def remind(self, cause: Cause) -> None:
        if self.status == "scheduled" and self.reminded_for != self.starts_at:
            assert self.starts_at is not None
            self._record(SessionReminded, cause, session_id=self.session_id,
                         starts_at=self.starts_at)  # fmt: skip

    def other(self, user_id: str) -> str:
        return self.guest_id if user_id == self.host_id else self.host_id

    def _require_member(self, user_id: str) -> None:
        if not self.version or user_id not in (self.host_id, self.guest_id):
            raise NotFound("no such session", code="SESSION_NOT_FOUND")

    def _require_awaited(self, user_id: str) -> None:
        self._require_member(user_id)
        self._require_status("pending")
        if user_id != self.awaiting:
            raise Forbidden("your partner has to answer this", code="SESSION_NOT_YOURS")

    def _require_status(self, *allowed: Status) -> None:
        if self.status not in allowed:
            raise Conflict(f"the session is {self.status}", code="SESSION_STATE")

    @applies(SessionProposed)
    def _proposed(self, e: SessionProposed) -> None:
        self.session_id, self.host_id, self.guest_id = e.session_id, e.host_id, e.guest_id
        self.status, self.awaiting = "pending", e.guest_id
        self.starts_at, self.duration = e.starts_at, e.duration_minutes

    @applies(SessionAccepted)
    def _accepted(self, e: SessionAccepted) -> None:
        self.status, self.awaiting = "scheduled", ""

    @applies(SessionRescheduled)
    def _rescheduled(self, e: SessionRescheduled) -> None:
        self.status, self.awaiting = "pending", self.other(e.by)
        self.starts_at, self.duration = e.starts_at, e.duration_minutes

    @applies(SessionDeclined)
    def _declined(self, e: SessionDeclined) -> None:
        self.status = "declined"

    @applies(SessionCancelled)
    def _cancelled(self, e: SessionCancelled) -> None:
        self.status = "cancelled"

    @applies(SessionStarted)
    def _started(self, e: SessionStarted) -> None:
        self.status, self.started_at = "in_progress", e.meta.occurred_at

    @applies(SessionCompleted)
    def _completed(self, e: SessionCompleted) -> None:
        self.status = "completed"

    @applies(SessionMissed)
    def _missed(self, e: SessionMissed) -> None:
        self.status = "no_show"

    @applies(SessionReminded)
    def _reminded(self, e: SessionReminded) -> None:
        self.reminded_for = e.starts_at


def _check_time(now: datetime, starts_at: datetime, duration: int) -> None:
    if starts_at.tzinfo is None:
        raise RuleViolation("the start time needs a time zone", code="SESSION_TIME_ZONE")
    if not now + LEAD_TIME <= starts_at <= now + HORIZON:
        raise RuleViolation("sessions start between 5 minutes and 90 days from now",
                            code="SESSION_TIME")  # fmt: skip
    if duration not in DURATIONS:
        raise RuleViolation("sessions last 15 to 120 minutes, in steps of 15",
                            code="SESSION_DURATION")  # fmt: skip


# -- agendas ----------------------------------------------------------------------------
class SlotHeld(DomainEvent):
    topic = "sessions.SlotHeld"

    user_id: str = Field(max_length=36)
    session_id: str = Field(max_length=36)
    starts_at: datetime
    ends_at: datetime


class SlotReleased(DomainEvent):
    topic = "sessions.SlotReleased"

    user_id: str = Field(max_length=36)
    session_id: str = Field(max_length=36)


class Agenda(Aggregate):
    """A user's booked time: the pending and scheduled sessions' slots."""

    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.slots: dict[str, tuple[datetime, datetime]] = {}

    def hold(self, cause: Cause, user_id: str, session_id: str, starts: datetime,
             ends: datetime) -> None:  # fmt: skip
        if agenda_id(user_id) != self.id:
            raise ValueError("another user's agenda")
        for other, (start, end) in self.slots.items():
            if other != session_id and start < ends and starts < end:
                raise Conflict("that time overlaps another session", code="SESSION_OVERLAP")
        if self.slots.get(session_id) != (starts, ends):
            self._record(SlotHeld, cause, user_id=user_id, session_id=session_id,
                         starts_at=starts, ends_at=ends)  # fmt: skip

    def release(self, cause: Cause, user_id: str, session_id: str) -> None:
        if session_id in self.slots:
            self._record(SlotReleased, cause, user_id=user_id, session_id=session_id)

    @applies(SlotHeld)
    def _held(self, e: SlotHeld) -> None:
        self.slots[e.session_id] = (e.starts_at, e.ends_at)

    @applies(SlotReleased)
    def _released(self, e: SlotReleased) -> None:
        self.slots.pop(e.session_id, None)

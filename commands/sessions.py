"""Session commands: schedule a 1:1 session with a matched partner and move it through its
life, run group sessions; and the notifier's session reminders."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypedDict
from uuid import UUID

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from commands.base import Command, CommandBus, CommandContext, Outcome, UnitOfWork
from domain import reference
from domain.aggregate import Cause
from domain.errors import Forbidden, NotFound, RuleViolation
from domain.group_sessions import MAX_CAPACITY, MIN_CAPACITY, GroupSession
from domain.matching import MatchPair, pair_id
from domain.profiles import Profile, profile_id
from domain.rooms import Room, room_key
from domain.sessions import CEFR, Agenda, Session, agenda_id


def session_key(session_id: str) -> UUID:
    try:
        return UUID(session_id)
    except ValueError:
        raise NotFound("no such session", code="SESSION_NOT_FOUND") from None


def _language(value: int | str) -> int:
    found = (
        reference.language(value) if isinstance(value, int) else reference.language_by_code(value)
    )
    if found is None:
        raise RuleViolation("unknown language", code="UNKNOWN_LANGUAGE")
    return found.id


class ScheduleSession(BaseModel):
    """``POST /sessions``: a partner from the caller's matches, a time with its zone."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=True)

    partner_id: str = Field(min_length=1, max_length=36,
                            validation_alias=AliasChoices("partnerId", "guestUserId"))  # fmt: skip
    starts_at: datetime = Field(validation_alias=AliasChoices("scheduledAt", "startTime"))
    duration_minutes: int = Field(
        default=30, validation_alias=AliasChoices("durationMinutes", "duration")
    )
    language: int | str = Field(validation_alias=AliasChoices("language", "languageCode"))
    kind: Literal["AUDIO", "VIDEO"] = Field(
        default="VIDEO", validation_alias=AliasChoices("type", "sessionType")
    )
    title: str = Field(default="Study Session", max_length=100)

    @field_validator("kind", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class SessionOpened(TypedDict):
    """A new 1:1 or group session and the call room made for it."""

    session_id: str
    room_id: str


def schedule_session(
    bus: CommandBus, ctx: CommandContext, *, host_id: str, command: ScheduleSession
) -> Outcome[SessionOpened]:
    def decide(uow: UnitOfWork) -> SessionOpened:
        pair = uow.load(MatchPair, pair_id(host_id, command.partner_id))
        if host_id == command.partner_id or pair.match_id is None:
            raise Forbidden("sessions are scheduled with a partner you matched",
                            code="SESSION_NOT_MATCHED")  # fmt: skip
        session_id, room_id = str(uuid.uuid4()), secrets.token_urlsafe(16)
        kind = command.kind
        uow.create(Room, room_key(room_id)).create(
            uow.cause, room_id=room_id, room_type="audio" if kind == "AUDIO" else "video",
            max_participants=2, title=command.title, created_by=host_id, session_id=session_id,
        )  # fmt: skip
        session = uow.create(Session, UUID(session_id))
        session.propose(uow.cause, session_id=session_id, host_id=host_id,
                        guest_id=command.partner_id, title=command.title,
                        language_id=_language(command.language), kind=kind,
                        starts_at=command.starts_at, duration_minutes=command.duration_minutes,
                        room_id=room_id)  # fmt: skip
        _hold(uow, session)
        return {"session_id": session_id, "room_id": room_id}

    return bus.run("sessions.ScheduleSession", ctx, decide)


def _hold(uow: UnitOfWork, session: Session) -> None:
    assert session.starts_at is not None
    for user in (session.host_id, session.guest_id):
        uow.load(Agenda, agenda_id(user)).hold(
            uow.cause, user, session.session_id, session.starts_at, session.ends_at
        )


def _release(uow: UnitOfWork, session: Session) -> None:
    for user in (session.host_id, session.guest_id):
        uow.load(Agenda, agenda_id(user)).release(uow.cause, user, session.session_id)


class SessionStep(Command):
    """A step ``user_id`` takes in one session (1:1 or group), found by its id."""

    session_id: str
    user_id: str = Field(max_length=36)


def _step(
    bus: CommandBus, ctx: CommandContext, command: SessionStep,
    step: Callable[[Session, Cause, str], None], *, releases: bool = False,
) -> Outcome:  # fmt: skip
    """Load the 1:1 session and take the step; ``releases``: a step that ends the session,
    after which it no longer occupies its partners' agendas."""

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        session = uow.load(Session, session_key(command.session_id))
        step(session, uow.cause, command.user_id)
        if releases and session.pending:  # it changed (not a repeated no-op)
            _release(uow, session)
        return {"session_id": command.session_id, "status": session.status}

    return bus.run(f"sessions.{type(command).__name__}", ctx, decide)


class AcceptSession(SessionStep):
    """The partner asked accepts the proposed time."""


def accept_session(bus: CommandBus, ctx: CommandContext, command: AcceptSession) -> Outcome:
    return _step(bus, ctx, command, Session.accept)


class DeclineSession(SessionStep):
    """The partner asked declines."""


def decline_session(bus: CommandBus, ctx: CommandContext, command: DeclineSession) -> Outcome:
    return _step(bus, ctx, command, Session.decline, releases=True)


class CancelSession(SessionStep):
    """Either partner calls it off before it starts."""


def cancel_session(bus: CommandBus, ctx: CommandContext, command: CancelSession) -> Outcome:
    return _step(bus, ctx, command, Session.cancel, releases=True)


class StartSession(SessionStep):
    """A partner starts it (from shortly before its time)."""


def start_session(bus: CommandBus, ctx: CommandContext, command: StartSession) -> Outcome:
    return _step(bus, ctx, command, Session.start)


class CompleteSession(SessionStep):
    """A partner ends a started session."""


def complete_session(bus: CommandBus, ctx: CommandContext, command: CompleteSession) -> Outcome:
    return _step(bus, ctx, command, Session.complete, releases=True)


class MissSession(SessionStep):
    """Nobody started it in time (the schedule's no-show job, or a partner)."""


def miss_session(bus: CommandBus, ctx: CommandContext, command: MissSession) -> Outcome:
    return _step(bus, ctx, command, Session.miss, releases=True)


def reschedule_session(
    bus: CommandBus,
    ctx: CommandContext,
    *,
    session_id: str,
    user_id: str,
    starts_at: datetime,
    duration_minutes: int,
) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        session = uow.load(Session, session_key(session_id))
        session.reschedule(uow.cause, user_id, starts_at, duration_minutes)
        _hold(uow, session)
        return {"session_id": session_id, "status": session.status}

    return bus.run("sessions.RescheduleSession", ctx, decide)


def remind_session(bus: CommandBus, ctx: CommandContext, session_id: str) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        uow.load(Session, session_key(session_id)).remind(uow.cause)
        return {"session_id": session_id}

    return bus.run("sessions.RemindSession", ctx, decide)


# -- group sessions -----------------------------------------------------------------------
class CreateGroupSession(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=100)
    topic: str = Field(default="", max_length=60, alias="topicCategory")
    language: int | str = Field(validation_alias=AliasChoices("targetLanguage", "language"))
    level_min: str = Field(default="A1", pattern="^(A1|A2|B1|B2|C1|C2)$", alias="levelMin")
    level_max: str = Field(default="C2", pattern="^(A1|A2|B1|B2|C1|C2)$", alias="levelMax")
    capacity: int = Field(default=6, ge=MIN_CAPACITY, le=MAX_CAPACITY, alias="maxParticipants")
    starts_at: datetime = Field(alias="scheduledAt")
    duration_minutes: int = Field(
        default=60, validation_alias=AliasChoices("sessionDuration", "durationMinutes")
    )


def create_group_session(
    bus: CommandBus, ctx: CommandContext, *, host_id: str, command: CreateGroupSession
) -> Outcome[SessionOpened]:
    def decide(uow: UnitOfWork) -> SessionOpened:
        session_id, room_id = str(uuid.uuid4()), secrets.token_urlsafe(16)
        uow.create(Room, room_key(room_id)).create(
            uow.cause, room_id=room_id, room_type="video", max_participants=command.capacity,
            title=command.title, created_by=host_id, session_id=session_id,
        )  # fmt: skip
        uow.create(GroupSession, UUID(session_id)).create(
            uow.cause, session_id=session_id, host_id=host_id, title=command.title,
            topic_name=command.topic, language_id=_language(command.language),
            level_min=command.level_min, level_max=command.level_max,
            capacity=command.capacity, starts_at=command.starts_at,
            duration_minutes=command.duration_minutes, room_id=room_id,
        )  # fmt: skip
        return {"session_id": session_id, "room_id": room_id}

    return bus.run("sessions.CreateGroupSession", ctx, decide)


def level_in(profile: Profile, language_id: int) -> str | None:
    """The user's CEFR level in a language, from their profile (native speakers: C2)."""
    if profile.items.get("nativeLanguage") == language_id:
        return CEFR[-1]
    for target in profile.items.get("targetLanguages", []):
        if target.language_id == language_id:
            level = reference.level(target.current_level_id)
            return level.cefr if level else None
    return None


def _group_step(
    bus: CommandBus, ctx: CommandContext, command: SessionStep,
    step: Callable[[GroupSession, Cause, str], None],
) -> Outcome:  # fmt: skip
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        group = uow.load(GroupSession, session_key(command.session_id))
        step(group, uow.cause, command.user_id)
        return {"session_id": command.session_id, "status": group.status}

    return bus.run(f"sessions.{type(command).__name__}", ctx, decide)


class JoinGroupSession(SessionStep):
    """Join if there is room and the learner's level in its language is in its range."""


def join_group_session(bus: CommandBus, ctx: CommandContext, command: JoinGroupSession) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        group = uow.load(GroupSession, session_key(command.session_id))
        profile = uow.load(Profile, profile_id(command.user_id))
        group.join(uow.cause, command.user_id, level_in(profile, group.language_id))
        return {"session_id": command.session_id, "status": group.status}

    return bus.run("sessions.JoinGroupSession", ctx, decide)


class LeaveGroupSession(SessionStep):
    """A participant leaves (the host cancels instead)."""


def leave_group_session(
    bus: CommandBus, ctx: CommandContext, command: LeaveGroupSession
) -> Outcome:
    return _group_step(bus, ctx, command, GroupSession.leave)


class StartGroupSession(SessionStep):
    """The host starts it."""


def start_group_session(
    bus: CommandBus, ctx: CommandContext, command: StartGroupSession
) -> Outcome:
    return _group_step(bus, ctx, command, GroupSession.start)


class EndGroupSession(SessionStep):
    """The host ends a started session."""


def end_group_session(bus: CommandBus, ctx: CommandContext, command: EndGroupSession) -> Outcome:
    return _group_step(bus, ctx, command, GroupSession.end)


class CancelGroupSession(SessionStep):
    """The host calls it off."""


def cancel_group_session(
    bus: CommandBus, ctx: CommandContext, command: CancelGroupSession
) -> Outcome:
    return _group_step(bus, ctx, command, GroupSession.cancel)


def remove_participant(
    bus: CommandBus, ctx: CommandContext, *, session_id: str, host_id: str, user_id: str
) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        uow.load(GroupSession, session_key(session_id)).remove(uow.cause, host_id, user_id)
        return {"session_id": session_id}

    return bus.run("sessions.RemoveGroupParticipant", ctx, decide)

"""Session read models: 1:1 sessions, group sessions and who is in them; the lists,
calendar and statistics the SPA shows are queries over these."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from domain.group_sessions import (
    GroupParticipantRemoved,
    GroupSessionCancelled,
    GroupSessionCreated,
    GroupSessionEnded,
    GroupSessionJoined,
    GroupSessionLeft,
    GroupSessionStarted,
    GroupStatus,
)
from domain.sessions import (
    SessionAccepted,
    SessionCancelled,
    SessionCompleted,
    SessionDeclined,
    SessionKind,
    SessionMissed,
    SessionProposed,
    SessionReminded,
    SessionRescheduled,
    SessionStarted,
    Status,
)
from eventflow.buffer import ProjectionTx
from eventflow.projection import Projection
from eventflow.queries import Window, first_row, rows_of
from eventflow.readmodels import ReadModels

sessions = Projection("sessions")


class SessionRow(TypedDict):
    """A ``sessions`` row: a 1:1 session; ``awaiting`` is who must answer a proposal."""

    session_id: str
    host_id: str
    guest_id: str
    title: str
    language_id: int
    kind: SessionKind
    starts_at: datetime
    duration_minutes: int
    status: Status
    awaiting: str | None
    room_id: str
    started_at: datetime | None
    minutes: int | None
    reminded_for: datetime | None
    position: int


class GroupSessionRow(TypedDict):
    """A ``group_sessions`` row; its members are in ``group_participants``."""

    session_id: str
    host_id: str
    title: str
    topic: str
    language_id: int
    level_min: str
    level_max: str
    capacity: int
    participants: int
    starts_at: datetime
    duration_minutes: int
    status: GroupStatus
    room_id: str
    started_at: datetime | None
    minutes: int | None


class CompletedSession(TypedDict):
    """A 1:1 or group session the user took part in to the end (``completed_sessions``);
    ``partner_id`` is None for a group."""

    started_at: datetime
    minutes: int
    partner_id: str | None


@sessions.tables
def _tables(metadata: sa.MetaData, name: Callable[[str], str]) -> None:
    one = sa.Table(
        name("sessions"),
        metadata,
        sa.Column("session_id", sa.String(36), primary_key=True),
        sa.Column("host_id", sa.String(36), nullable=False, index=True),
        sa.Column("guest_id", sa.String(36), nullable=False, index=True),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("language_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("awaiting", sa.String(36)),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("minutes", sa.Integer),
        sa.Column("reminded_for", sa.DateTime(timezone=True)),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    sa.Index(name("ix_sessions_starts"), one.c.starts_at)
    group = sa.Table(
        name("group_sessions"),
        metadata,
        sa.Column("session_id", sa.String(36), primary_key=True),
        sa.Column("host_id", sa.String(36), nullable=False, index=True),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("topic", sa.String(60), nullable=False),
        sa.Column("language_id", sa.Integer, nullable=False),
        sa.Column("level_min", sa.String(2), nullable=False),
        sa.Column("level_max", sa.String(2), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("participants", sa.Integer, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("minutes", sa.Integer),
    )
    sa.Index(name("ix_group_sessions_status_starts"), group.c.status, group.c.starts_at)
    sa.Table(
        name("group_participants"),
        metadata,
        sa.Column("session_id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), primary_key=True, index=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
    )


def _set(e: Any, tx: ProjectionTx, **values: Any) -> None:
    tx.update("sessions", {"session_id": e.session_id},
              {**values, "position": e.meta.position or 0})  # fmt: skip


@sessions.on(SessionProposed)
def _proposed(e: SessionProposed, tx: ProjectionTx) -> None:
    row = e.model_dump(include={"session_id", "host_id", "guest_id", "title", "language_id",
                                "kind", "starts_at", "duration_minutes", "room_id"})  # fmt: skip
    tx.insert("sessions", row | {"status": "pending", "awaiting": e.guest_id, "started_at": None,
                                 "minutes": None, "reminded_for": None,
                                 "position": e.meta.position or 0})  # fmt: skip


@sessions.on(SessionAccepted)
def _accepted(e: SessionAccepted, tx: ProjectionTx) -> None:
    _set(e, tx, status="scheduled", awaiting=None)


@sessions.on(SessionRescheduled)
def _rescheduled(e: SessionRescheduled, tx: ProjectionTx) -> None:
    table = tx.table("sessions")
    other = sa.case((table.c.host_id == e.by, table.c.guest_id), else_=table.c.host_id)
    tx.execute(
        table.update()
        .where(table.c.session_id == e.session_id)
        .values(
            status="pending",
            awaiting=other,
            starts_at=e.starts_at,
            duration_minutes=e.duration_minutes,
            position=e.meta.position or 0,
        )
    )


def _status(status: str) -> Callable[[Any, ProjectionTx], None]:
    def handler(e: Any, tx: ProjectionTx) -> None:
        _set(e, tx, status=status, awaiting=None)

    return handler


sessions.on(SessionDeclined)(_status("declined"))
sessions.on(SessionCancelled)(_status("cancelled"))
sessions.on(SessionMissed)(_status("no_show"))


@sessions.on(SessionReminded)
def _reminded(e: SessionReminded, tx: ProjectionTx) -> None:
    _set(e, tx, reminded_for=e.starts_at)


@sessions.on(SessionStarted)
def _started(e: SessionStarted, tx: ProjectionTx) -> None:
    _set(e, tx, status="in_progress", started_at=e.meta.occurred_at)


@sessions.on(SessionCompleted)
def _completed(e: SessionCompleted, tx: ProjectionTx) -> None:
    _set(e, tx, status="completed", minutes=e.minutes)


@sessions.on(GroupSessionCreated)
def _group_created(e: GroupSessionCreated, tx: ProjectionTx) -> None:
    row = e.model_dump(include={"session_id", "host_id", "title", "language_id", "level_min",
                                "level_max", "capacity", "starts_at", "duration_minutes",
                                "room_id"})  # fmt: skip
    tx.insert("group_sessions", row | {"topic": e.topic_name, "participants": 1,
                                       "status": "scheduled", "started_at": None,
                                       "minutes": None})  # fmt: skip
    tx.insert("group_participants", {"session_id": e.session_id, "user_id": e.host_id,
                                     "joined_at": e.meta.occurred_at})  # fmt: skip


def _seats(delta: int) -> Callable[[Any, ProjectionTx], None]:
    def handler(e: Any, tx: ProjectionTx) -> None:
        key = {"session_id": e.session_id, "user_id": e.user_id}
        if delta > 0:
            tx.insert("group_participants", key | {"joined_at": e.meta.occurred_at})
        else:
            tx.delete("group_participants", key)
        table = tx.table("group_sessions")
        tx.execute(
            table.update()
            .where(table.c.session_id == e.session_id)
            .values(participants=table.c.participants + delta)
        )

    return handler


sessions.on(GroupSessionJoined)(_seats(+1))
sessions.on(GroupSessionLeft, GroupParticipantRemoved)(_seats(-1))


@sessions.on(GroupSessionStarted)
def _group_started(e: GroupSessionStarted, tx: ProjectionTx) -> None:
    tx.update("group_sessions", {"session_id": e.session_id},
              {"status": "active", "started_at": e.meta.occurred_at})  # fmt: skip


@sessions.on(GroupSessionEnded)
def _group_ended(e: GroupSessionEnded, tx: ProjectionTx) -> None:
    tx.update("group_sessions", {"session_id": e.session_id},
              {"status": "ended", "minutes": e.minutes})  # fmt: skip


@sessions.on(GroupSessionCancelled)
def _group_cancelled(e: GroupSessionCancelled, tx: ProjectionTx) -> None:
    tx.update("group_sessions", {"session_id": e.session_id}, {"status": "cancelled"})


# -- queries ----------------------------------------------------------------------------
def sessions_of(
    read_models: ReadModels,
    user_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[SessionRow]:
    """The user's 1:1 sessions, soonest first, optionally starting within [since, until)."""
    table = read_models.table(sessions, "sessions")
    query = sa.select(table).where(sa.or_(table.c.host_id == user_id, table.c.guest_id == user_id))
    if since is not None:
        query = query.where(table.c.starts_at >= since)
    if until is not None:
        query = query.where(table.c.starts_at < until)
    query = query.order_by(table.c.starts_at).limit(limit).offset(offset)
    return rows_of(read_models, query, SessionRow, zoned=True)


def session_changes(read_models: ReadModels, user_id: str, window: Window) -> list[SessionRow]:
    """The user's 1:1 sessions proposed or changed in the window (sync)."""
    table = read_models.table(sessions, "sessions")
    query = sa.select(table).where(sa.or_(table.c.host_id == user_id, table.c.guest_id == user_id))
    return window.rows(read_models, query, table.c.position, SessionRow, zoned=True)


def session_row(read_models: ReadModels, session_id: str) -> SessionRow | None:
    table = read_models.table(sessions, "sessions")
    query = sa.select(table).where(table.c.session_id == session_id)
    return first_row(read_models, query, SessionRow, zoned=True)


def due_sessions(
    read_models: ReadModels, start_before: datetime, *, unreminded: bool = False, limit: int = 500
) -> list[SessionRow]:
    """Scheduled sessions starting before the given time (no-shows), or only those whose
    current start has not been reminded of (reminders)."""
    table = read_models.table(sessions, "sessions")
    query = sa.select(table).where(table.c.status == "scheduled", table.c.starts_at < start_before)
    if unreminded:
        query = query.where(
            sa.or_(table.c.reminded_for.is_(None), table.c.reminded_for != table.c.starts_at)
        )
    query = query.order_by(table.c.starts_at).limit(limit)
    return rows_of(read_models, query, SessionRow, zoned=True)


def group_sessions_of(read_models: ReadModels, user_id: str) -> list[GroupSessionRow]:
    table = read_models.table(sessions, "group_sessions")
    seats = read_models.table(sessions, "group_participants")
    query = (
        sa.select(table)
        .join(seats, seats.c.session_id == table.c.session_id)
        .where(seats.c.user_id == user_id)
        .order_by(table.c.starts_at)
    )
    return rows_of(read_models, query, GroupSessionRow, zoned=True)


def open_group_sessions(
    read_models: ReadModels, now: datetime, language_id: int | None = None, limit: int = 50
) -> list[GroupSessionRow]:
    table = read_models.table(sessions, "group_sessions")
    query = sa.select(table).where(table.c.status == "scheduled", table.c.starts_at > now)
    if language_id is not None:
        query = query.where(table.c.language_id == language_id)
    query = query.order_by(table.c.starts_at).limit(limit)
    return rows_of(read_models, query, GroupSessionRow, zoned=True)


def group_session_row(read_models: ReadModels, session_id: str) -> GroupSessionRow | None:
    table = read_models.table(sessions, "group_sessions")
    query = sa.select(table).where(table.c.session_id == session_id)
    return first_row(read_models, query, GroupSessionRow, zoned=True)


def group_members(read_models: ReadModels, session_ids: list[str]) -> dict[str, list[str]]:
    """Each session's members, oldest seat first, in one query for a whole list."""
    seats = read_models.table(sessions, "group_participants")
    query = sa.select(seats.c.session_id, seats.c.user_id).where(
        seats.c.session_id.in_(session_ids)
    )
    found: dict[str, list[str]] = {sid: [] for sid in session_ids}
    with read_models.reads() as conn:
        for session_id, user_id in conn.execute(query.order_by(seats.c.joined_at)):
            found[session_id].append(user_id)
    return found


def completed_sessions(read_models: ReadModels, user_id: str) -> list[CompletedSession]:
    """Every 1:1 and group session the user took part in to the end: ``started_at``,
    ``minutes`` (actual, not planned), ``partner_id`` (None for a group)."""
    one = read_models.table(sessions, "sessions")
    group = read_models.table(sessions, "group_sessions")
    seats = read_models.table(sessions, "group_participants")
    partner = sa.case((one.c.host_id == user_id, one.c.guest_id), else_=one.c.host_id)
    ones = sa.select(one.c.started_at, one.c.minutes, partner.label("partner_id")).where(
        one.c.status == "completed",
        sa.or_(one.c.host_id == user_id, one.c.guest_id == user_id),
        *_ran(one),
    )
    groups = (
        sa.select(group.c.started_at, group.c.minutes, sa.null().label("partner_id"))
        .join(seats, seats.c.session_id == group.c.session_id)
        .where(group.c.status == "ended", seats.c.user_id == user_id, *_ran(group))
    )
    return [*rows_of(read_models, ones, CompletedSession, zoned=True),
            *rows_of(read_models, groups, CompletedSession, zoned=True)]  # fmt: skip


def _ran(table: sa.Table) -> list[sa.ColumnElement[bool]]:
    """Start and length known: always so once a session is completed (it must have started
    first), said to the query so that ``CompletedSession`` may promise them."""
    return [table.c.started_at.is_not(None), table.c.minutes.is_not(None)]


def streak_days(days: set[date], today: date) -> int:
    """Consecutive days with a completed session, ending today if today has one, else
    yesterday (a day's grace: the streak is not lost before the day is over)."""
    day = today if today in days else today - timedelta(days=1)
    count = 0
    while day in days:
        count, day = count + 1, day - timedelta(days=1)
    return count


def local_days(rows: list[CompletedSession], zone: ZoneInfo) -> set[date]:
    return {r["started_at"].astimezone(zone).date() for r in rows}

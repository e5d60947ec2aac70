"""Room read model: each WebRTC room with its settings, how many are in it, and its calls
(start, end, length, peak), which session analytics sum up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypedDict

import sqlalchemy as sa

from domain.rooms import RoomCreated, RoomEnded, RoomJoined, RoomKind, RoomLeft
from eventflow.buffer import ProjectionTx
from eventflow.projection import Projection
from eventflow.queries import first_row, rows_of
from eventflow.readmodels import ReadModels

rooms = Projection("rooms")
ACTIVE_WINDOW = timedelta(hours=24)
"""A room nobody used for this long is not listed as active any more."""


class RoomRow(TypedDict):
    """A ``rooms`` row (who is seated lives in the room registry, not here)."""

    room_id: str
    room_type: RoomKind
    max_participants: int
    title: str
    language: str | None
    is_private: bool
    created_by: str | None
    session_id: str | None
    created_at: datetime
    participants: int
    last_activity: datetime


@rooms.tables
def _tables(metadata: sa.MetaData, name: Callable[[str], str]) -> None:
    table = sa.Table(
        name("rooms"),
        metadata,
        sa.Column("room_id", sa.String(64), primary_key=True),
        sa.Column("room_type", sa.String(10), nullable=False),
        sa.Column("max_participants", sa.Integer, nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("language", sa.String(20)),
        sa.Column("is_private", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("session_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("participants", sa.Integer, nullable=False),
        sa.Column("last_activity", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Index(name("ix_rooms_recent"), table.c.last_activity)
    sa.Table(
        name("room_calls"),
        metadata,
        sa.Column("room_id", sa.String(64), primary_key=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("duration_seconds", sa.Integer, nullable=False),
        sa.Column("peak_participants", sa.Integer, nullable=False),
    )


@rooms.on(RoomCreated)
def _created(e: RoomCreated, tx: ProjectionTx) -> None:
    at = e.meta.occurred_at
    tx.insert("rooms", {"room_id": e.room_id, "room_type": e.room_type,
                        "max_participants": e.max_participants, "title": e.title,
                        "language": e.language, "is_private": e.is_private,
                        "created_by": e.created_by, "session_id": e.session_id,
                        "created_at": at, "participants": 0, "last_activity": at})  # fmt: skip


def _count(delta: int) -> Callable[[Any, ProjectionTx], None]:
    def handler(e: RoomJoined | RoomLeft, tx: ProjectionTx) -> None:
        table = tx.table("rooms")
        tx.execute(
            table.update()
            .where(table.c.room_id == e.room_id)
            .values(participants=table.c.participants + delta, last_activity=e.meta.occurred_at)
        )

    return handler


rooms.on(RoomJoined)(_count(+1))
rooms.on(RoomLeft)(_count(-1))


@rooms.on(RoomEnded)
def _ended(e: RoomEnded, tx: ProjectionTx) -> None:
    tx.insert("room_calls", {"room_id": e.room_id, "ended_at": e.meta.occurred_at,
                             "duration_seconds": e.duration_seconds,
                             "peak_participants": e.peak_participants})  # fmt: skip


# -- queries ----------------------------------------------------------------------------
def room_row(read_models: ReadModels, room_id: str) -> RoomRow | None:
    table = read_models.table(rooms, "rooms")
    return first_row(read_models, sa.select(table).where(table.c.room_id == room_id), RoomRow)


def active_rooms(read_models: ReadModels, now: datetime, limit: int = 50) -> list[RoomRow]:
    """Public rooms used in the last day, newest activity first."""
    table = read_models.table(rooms, "rooms")
    query = (
        sa.select(table)
        .where(table.c.is_private.is_(False), table.c.last_activity >= now - ACTIVE_WINDOW)
        .order_by(table.c.last_activity.desc())
        .limit(limit)
    )
    return rows_of(read_models, query, RoomRow)

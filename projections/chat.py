"""Chat read models: rooms with their last message, participants with read marks, messages.

Messages are ordered by their position in the event log (the order they were accepted), so
history pages, the sync cursor and live delivery agree on one order. Unread counts compare a
participant's read mark with the messages others posted after it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypedDict

import sqlalchemy as sa

from domain.chat import (
    ChatMessagePosted,
    ChatParticipantJoined,
    ChatParticipantLeft,
    ChatRoomClosed,
    ChatRoomCreated,
    ChatRoomRead,
    MessageType,
    RoomType,
)
from domain.events import ERASED
from domain.identity import AccountDeleted
from eventflow.buffer import ProjectionTx
from eventflow.projection import Projection
from eventflow.queries import Window, first_row, rows_of
from eventflow.readmodels import ReadModels
from projections.identity import get_accounts
from projections.profiles import get_profiles, image_path

chat = Projection("chat")


class ChatRoomRow(TypedDict):
    """A ``chat_rooms`` row, with a preview of its last message."""

    room_id: int
    name: str
    room_type: RoomType
    is_public: bool
    max_participants: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed: bool
    last_message: str | None
    last_message_at: datetime | None
    last_sender_id: str | None


class ChatRoomListing(ChatRoomRow):
    """A room in a member's list (``rooms_of``): the room, their read mark, their unread count."""

    read_at: datetime | None
    unread_count: int


class ParticipantRow(TypedDict):
    """A ``chat_participants`` row: a member of a room and how far they have read."""

    room_id: int
    user_id: str
    joined_at: datetime
    read_at: datetime | None
    position: int


class MessageRow(TypedDict):
    """A ``chat_messages`` row."""

    message_id: str
    room_id: int
    position: int
    sender_id: str
    text: str
    image_urls: list[str]
    audio_url: str | None
    audio_duration: float | None
    message_type: MessageType
    sent_at: datetime


class Person(TypedDict):
    """A user as chat shows senders and participants (contract 4.6)."""

    userId: str
    name: str
    profileImage: str | None


@chat.tables
def _tables(metadata: sa.MetaData, name: Callable[[str], str]) -> None:
    sa.Table(
        name("chat_rooms"),
        metadata,
        sa.Column("room_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("room_type", sa.String(10), nullable=False),
        sa.Column("is_public", sa.Boolean, nullable=False),
        sa.Column("max_participants", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False, default=False),
        sa.Column("last_message", sa.Text),
        sa.Column("last_message_at", sa.DateTime(timezone=True)),
        sa.Column("last_sender_id", sa.String(36)),
    )
    sa.Table(
        name("chat_participants"),
        metadata,
        sa.Column("room_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.String(36), primary_key=True, index=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True)),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    messages = sa.Table(
        name("chat_messages"),
        metadata,
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("room_id", sa.BigInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("sender_id", sa.String(36), nullable=False, index=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("image_urls", sa.JSON, nullable=False),
        sa.Column("audio_url", sa.String(500)),
        sa.Column("audio_duration", sa.Float),
        sa.Column("message_type", sa.String(10), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Index(name("ix_chat_messages_room_position"), messages.c.room_id, messages.c.position)


def _preview(e: ChatMessagePosted) -> str:
    if e.text:
        return e.text[:100]
    return "[voice message]" if e.audio_url else "[image]"


@chat.on(ChatRoomCreated)
def _created(e: ChatRoomCreated, tx: ProjectionTx) -> None:
    at = e.meta.occurred_at
    tx.insert(
        "chat_rooms",
        {
            "room_id": e.room_id,
            "name": e.name,
            "room_type": e.room_type,
            "is_public": e.is_public,
            "max_participants": e.max_participants,
            "created_by": e.created_by,
            "created_at": at,
            "updated_at": at,
            "closed": False,
            "last_message": None,
            "last_message_at": None,
            "last_sender_id": None,
        },
    )
    for user_id in e.participant_ids:
        row = {"room_id": e.room_id, "user_id": user_id, "joined_at": at, "read_at": at,
               "position": e.meta.position or 0}  # fmt: skip
        tx.insert("chat_participants", row)


@chat.on(ChatParticipantJoined)
def _joined(e: ChatParticipantJoined, tx: ProjectionTx) -> None:
    at = e.meta.occurred_at
    row = {"room_id": e.room_id, "user_id": e.user_id, "joined_at": at, "read_at": at,
           "position": e.meta.position or 0}  # fmt: skip
    tx.upsert("chat_participants", row, key=["room_id", "user_id"])


@chat.on(ChatParticipantLeft)
def _left(e: ChatParticipantLeft, tx: ProjectionTx) -> None:
    tx.delete("chat_participants", {"room_id": e.room_id, "user_id": e.user_id})


@chat.on(ChatRoomClosed)
def _closed(e: ChatRoomClosed, tx: ProjectionTx) -> None:
    tx.update("chat_rooms", {"room_id": e.room_id}, {"closed": True})


@chat.on(ChatRoomRead)
def _read(e: ChatRoomRead, tx: ProjectionTx) -> None:
    where = {"room_id": e.room_id, "user_id": e.user_id}
    tx.update("chat_participants", where, {"read_at": e.read_at, "position": e.meta.position or 0})


def message_row(e: ChatMessagePosted) -> MessageRow:
    """The row a posted message gets (live delivery shows it before it is projected)."""
    return MessageRow(message_id=e.message_id, room_id=e.room_id, position=e.meta.position or 0,
                      sender_id=e.sender_id, text=e.text, image_urls=list(e.image_urls),
                      audio_url=e.audio_url, audio_duration=e.audio_duration,
                      message_type=e.message_type, sent_at=e.meta.occurred_at)  # fmt: skip


@chat.on(ChatMessagePosted)
def _posted(e: ChatMessagePosted, tx: ProjectionTx) -> None:
    tx.insert("chat_messages", dict(message_row(e)))
    tx.update(
        "chat_rooms",
        {"room_id": e.room_id},
        {
            "last_message": _preview(e),
            "last_message_at": e.meta.occurred_at,
            "last_sender_id": e.sender_id,
            "updated_at": e.meta.occurred_at,
        },
    )


@chat.on(AccountDeleted)
def _deleted(e: AccountDeleted, tx: ProjectionTx) -> None:
    """What the deleted user wrote reads as erased here too, as it does in the store."""
    user_id = str(e.aggregate_id)
    tx.update("chat_messages", {"sender_id": user_id}, {"text": ERASED})
    tx.delete("chat_participants", {"user_id": user_id})


# -- queries ----------------------------------------------------------------------------
def rooms_of(
    read_models: ReadModels, user_id: str, room_id: int | None = None
) -> list[ChatRoomListing]:
    """The user's open rooms (or just ``room_id``), most recently active first, with their
    unread counts."""
    rooms = read_models.table(chat, "chat_rooms")
    members = read_models.table(chat, "chat_participants")
    messages = read_models.table(chat, "chat_messages")
    unread = (
        sa.select(sa.func.count())
        .where(
            messages.c.room_id == rooms.c.room_id,
            messages.c.sender_id != user_id,
            messages.c.sent_at > members.c.read_at,
        )
        .scalar_subquery()
    )
    query = (
        sa.select(rooms, members.c.read_at, unread.label("unread_count"))
        .join(members, members.c.room_id == rooms.c.room_id)
        .where(members.c.user_id == user_id, rooms.c.closed.is_(False))
        .order_by(rooms.c.updated_at.desc())
    )
    if room_id is not None:
        query = query.where(rooms.c.room_id == room_id)
    return rows_of(read_models, query, ChatRoomListing)


def room_row(read_models: ReadModels, room_id: int) -> ChatRoomRow | None:
    rooms = read_models.table(chat, "chat_rooms")
    return first_row(read_models, sa.select(rooms).where(rooms.c.room_id == room_id), ChatRoomRow)


def participants_of(read_models: ReadModels, room_ids: list[int]) -> dict[int, list[str]]:
    members = read_models.table(chat, "chat_participants")
    query = (
        sa.select(members.c.room_id, members.c.user_id)
        .where(members.c.room_id.in_(room_ids))
        .order_by(members.c.joined_at, members.c.user_id)
    )
    found: dict[int, list[str]] = {room_id: [] for room_id in room_ids}
    with read_models.reads() as conn:
        for room_id, user_id in conn.execute(query):
            found[room_id].append(user_id)
    return found


def messages_of(read_models: ReadModels, room_id: int, *, page: int, size: int) -> list[MessageRow]:
    """Page ``page`` (0 = the newest) of a room's messages, oldest first within the page."""
    messages = read_models.table(chat, "chat_messages")
    query = (
        sa.select(messages)
        .where(messages.c.room_id == room_id)
        .order_by(messages.c.position.desc())
        .limit(size)
        .offset(page * size)
    )
    return rows_of(read_models, query, MessageRow)[::-1]


def people(
    read_models: ReadModels,
    user_ids: list[str],
    image_url: Callable[[str], str] = image_path,
) -> dict[str, Person]:
    """Each user as chat shows them (never null: the SPA dereferences it; a deleted user
    reads as "(unknown)"). ``image_url`` turns an image key into a URL."""
    accounts, profiles = get_accounts(read_models, user_ids), get_profiles(read_models, user_ids)
    found = {}
    for user_id in user_ids:
        profile, account = profiles.get(user_id), accounts.get(user_id)
        english, key = (profile["english_name"], profile["image_key"]) if profile else (None, None)
        name = english or (account["name"] if account else None) or "(unknown)"
        found[user_id] = Person(
            userId=user_id, name=name, profileImage=image_url(key) if key else None
        )
    return found


def message_view(row: MessageRow, sender: Person) -> dict[str, Any]:
    """A message as history and live delivery both present it (contract 4.6 and 5.1)."""
    return {
        "messageId": row["message_id"],
        "roomId": row["room_id"],
        "sender": sender,
        "message": row["text"],
        "imageUrls": list(row["image_urls"] or []),
        "audioUrl": row["audio_url"],
        "audioDuration": row["audio_duration"],
        "messageType": row["message_type"],
        "sentAt": row["sent_at"].isoformat(),
    }


def message_changes(read_models: ReadModels, user_id: str, window: Window) -> list[MessageRow]:
    """Messages posted in the window to the rooms the user is in (sync)."""
    messages = read_models.table(chat, "chat_messages")
    mine = read_models.table(chat, "chat_participants")
    query = sa.select(messages).join(
        mine, sa.and_(mine.c.room_id == messages.c.room_id, mine.c.user_id == user_id)
    )
    return window.rows(read_models, query, messages.c.position, MessageRow)


def read_mark_changes(
    read_models: ReadModels, user_id: str, window: Window
) -> list[ParticipantRow]:
    """Read marks and joins in the window, in the rooms the user is in (sync)."""
    marks = read_models.table(chat, "chat_participants")
    mine = marks.alias("mine")
    query = sa.select(marks).join(
        mine, sa.and_(mine.c.room_id == marks.c.room_id, mine.c.user_id == user_id)
    )
    return window.rows(read_models, query, marks.c.position, ParticipantRow)

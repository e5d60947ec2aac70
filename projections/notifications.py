"""Notification read model: each user's notifications, read marks and the inbox watermark,
and how a notification reads (rendered in the recipient's language with current names)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, TypedDict, cast

import redis
import sqlalchemy as sa

from domain import reference
from domain.achievement_catalog import title_of
from domain.events import DomainEvent
from domain.identity import AccountDeleted
from domain.notifications import (
    InboxReadAll,
    NotificationCreated,
    NotificationDeleted,
    NotificationRead,
)
from domain.push_devices import PushDeviceRegistered, PushDeviceRemoved
from eventflow.buffer import ProjectionTx
from eventflow.codec import RecordedEvent
from eventflow.projection import Projection
from eventflow.queries import Window, page_of, rows_of
from eventflow.readmodels import ReadModels
from eventflow.schema import tracking_table
from projections.chat import people
from projections.profiles import get_settings

notifications = Projection("notifications")
log = logging.getLogger(__name__)


class NotificationRow(TypedDict):
    """A ``notifications`` row; ``data`` holds what the text is rendered from (``userId``,
    ``level``, ``achievement``). A deleted one stays as a tombstone for sync."""

    notification_id: str
    recipient_id: str
    kind: str
    category: str
    click_url: str
    data: dict[str, str | int]
    created_at: datetime
    read_at: datetime | None
    deleted_at: datetime | None
    position: int


class PushDeviceRow(TypedDict):
    """A ``push_devices`` row: one browser's Web Push subscription."""

    user_id: str
    device: str
    endpoint: str
    p256dh: str
    auth: str
    device_type: str
    registered_at: datetime


_L = reference.Label
TEXTS: dict[str, tuple[reference.Label, reference.Label]] = {
    "match_request": (
        _L("새 매칭 요청", "New match request"),
        _L("{name}님이 언어 교환을 요청했어요.", "{name} would like to exchange languages."),
    ),
    "match_accepted": (
        _L("매칭 성사", "Match accepted"),
        _L("{name}님이 요청을 수락했어요.", "{name} accepted your request. Say hello!"),
    ),
    "match_rejected": (
        _L("매칭 요청 거절", "Match request declined"),
        _L("{name}님이 요청을 거절했어요.", "{name} declined your request this time."),
    ),
    "chat": (
        _L("새 메시지", "New message"),
        _L("{name}님의 새 메시지가 있어요.", "{name} sent you a message."),
    ),
    "session_invitation": (
        _L("세션 초대", "Session invitation"),
        _L("{name}님이 세션을 제안했어요.", "{name} proposed a session."),
    ),
    "session_accepted": (
        _L("세션 확정", "Session confirmed"),
        _L("{name}님이 세션을 수락했어요.", "{name} accepted the session."),
    ),
    "session_rescheduled": (
        _L("세션 일정 변경", "Session moved"),
        _L("{name}님이 세션 시간을 바꿨어요.", "{name} moved the session."),
    ),
    "session_cancelled": (
        _L("세션 취소", "Session cancelled"),
        _L("{name}님이 세션을 취소했어요.", "{name} cancelled the session."),
    ),
    "level_test_result": (
        _L("레벨 테스트 결과", "Level test result"),
        _L("레벨 테스트 결과가 나왔어요: {level}", "Your level test result is ready: {level}"),
    ),
    "achievement": (
        _L("업적 달성", "Achievement unlocked"),
        _L("'{achievement}' 업적을 달성했어요!", "You unlocked '{achievement}'."),
    ),
    "session_reminder": (
        _L("곧 세션이 시작돼요", "Your session starts soon"),
        _L(
            "{name}님과의 세션이 30분 안에 시작돼요.",
            "Your session with {name} starts within 30 minutes.",
        ),
    ),
}
"""Title and message per kind, in Korean and English; ``{name}`` is the other person,
``{level}`` a level test's result, ``{achievement}`` an unlocked achievement's title."""


@notifications.tables
def _tables(metadata: sa.MetaData, name: Callable[[str], str]) -> None:
    table = sa.Table(
        name("notifications"),
        metadata,
        sa.Column("notification_id", sa.String(36), primary_key=True),
        sa.Column("recipient_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("click_url", sa.String(200), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True)),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    sa.Index(name("ix_notifications_recipient_created"), table.c.recipient_id, table.c.created_at)
    sa.Index(name("ix_notifications_recipient_position"), table.c.recipient_id, table.c.position)
    sa.Table(
        name("push_devices"),
        metadata,
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("device", sa.String(32), primary_key=True),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("p256dh", sa.String(400), nullable=False),
        sa.Column("auth", sa.String(200), nullable=False),
        sa.Column("device_type", sa.String(20), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    )


def created_row(e: NotificationCreated) -> NotificationRow:
    """The row a new notification gets (the pushers render it before it is projected)."""
    return NotificationRow(notification_id=str(e.aggregate_id), recipient_id=e.recipient_id,
                           kind=e.kind, category=e.category, click_url=e.click_url,
                           data=dict(e.data), created_at=e.meta.occurred_at, read_at=None,
                           deleted_at=None, position=e.meta.position or 0)  # fmt: skip


@notifications.on(NotificationCreated)
def _created(e: NotificationCreated, tx: ProjectionTx) -> None:
    tx.insert("notifications", dict(created_row(e)))


def _at(e: DomainEvent) -> int:
    return e.meta.position or 0


@notifications.on(NotificationRead)
def _read(e: NotificationRead, tx: ProjectionTx) -> None:
    where = {"notification_id": str(e.aggregate_id)}
    tx.update("notifications", where, {"read_at": e.meta.occurred_at, "position": _at(e)})


@notifications.on(NotificationDeleted)
def _deleted(e: NotificationDeleted, tx: ProjectionTx) -> None:
    """Kept as a tombstone, so that an offline client's sync learns of the deletion."""
    where = {"notification_id": str(e.aggregate_id)}
    tx.update("notifications", where, {"deleted_at": e.meta.occurred_at, "position": _at(e)})


@notifications.on(InboxReadAll)
def _read_all(e: InboxReadAll, tx: ProjectionTx) -> None:
    table = tx.table("notifications")
    tx.execute(
        table.update()
        .where(
            table.c.recipient_id == e.recipient_id,
            table.c.read_at.is_(None),
            table.c.deleted_at.is_(None),
            table.c.created_at <= e.read_at,
        )
        .values(read_at=e.read_at, position=_at(e))
    )


@notifications.on(PushDeviceRegistered)
def _device_registered(e: PushDeviceRegistered, tx: ProjectionTx) -> None:
    row = e.model_dump(include={"user_id", "device", "endpoint", "p256dh", "auth", "device_type"})
    row["registered_at"] = e.meta.occurred_at
    tx.upsert("push_devices", row, key=["user_id", "device"])


@notifications.on(PushDeviceRemoved)
def _device_removed(e: PushDeviceRemoved, tx: ProjectionTx) -> None:
    tx.delete("push_devices", {"user_id": e.user_id, "device": e.device})


@notifications.on(AccountDeleted)
def _account_deleted(e: AccountDeleted, tx: ProjectionTx) -> None:
    tx.delete("notifications", {"recipient_id": str(e.aggregate_id)})
    tx.delete("push_devices", {"user_id": str(e.aggregate_id)})


# -- queries ----------------------------------------------------------------------------
def page(
    read_models: ReadModels,
    user_id: str,
    *,
    page_number: int,
    size: int,
    category: str | None = None,
    unread_only: bool = False,
) -> tuple[list[NotificationRow], int]:
    table = read_models.table(notifications, "notifications")
    conditions: list[Any] = [table.c.recipient_id == user_id, table.c.deleted_at.is_(None)]
    if category:
        conditions.append(table.c.category == category.upper())
    if unread_only:
        conditions.append(table.c.read_at.is_(None))
    order = table.c.created_at.desc()
    return page_of(read_models, table, conditions, NotificationRow, order_by=order,
                   page=page_number, size=size)  # fmt: skip


def unread_counts_at(
    read_models: ReadModels, user_ids: Collection[str]
) -> tuple[dict[str, int], int, int]:
    """The users' unread counts, with the active version and the progress (the sum of its
    tracked positions, which only grows) they were counted at, read in one snapshot."""
    version = read_models.active_version(notifications.name)
    table = read_models.table(notifications, "notifications")
    counts = (
        sa.select(table.c.recipient_id, sa.func.count())
        .where(
            table.c.recipient_id.in_(list(user_ids)),
            table.c.read_at.is_(None),
            table.c.deleted_at.is_(None),
        )
        .group_by(table.c.recipient_id)
    )
    progress = sa.select(sa.func.coalesce(sa.func.sum(tracking_table.c.position), 0)).where(
        tracking_table.c.projection == notifications.name, tracking_table.c.version == version
    )
    with read_models.snapshot() as conn:
        counted = {str(user): int(n) for user, n in conn.execute(counts).all()}
        at = int(conn.execute(progress).scalar_one())
    return {user: counted.get(user, 0) for user in user_ids}, version, at


COUNTED_TOPICS = frozenset(
    e.topic for e in (NotificationCreated, NotificationRead, NotificationDeleted, InboxReadAll)
)


class UnreadCounters:
    """Unread notification counts cached in Redis (every tab's badge polls every 30 s).

    The projector refreshes the counts of the users a committed batch touched (the runner's
    after-commit hook): one snapshot counts them all and one Redis transaction stores them,
    instead of a transaction in each store per user (an eighth of the projector's time under
    load). Each cached count is tagged with the projection version and progress it was
    counted at, and a refresh only replaces an older tag, so a slow writer never overwrites
    a newer count. A missing key (Redis wiped, or a day idle) is counted again from the read
    model, and with Redis away the read model answers directly.
    """

    TTL_SECONDS = 24 * 3600

    def __init__(self, client: redis.Redis[bytes], read_models: ReadModels) -> None:
        self._client = client
        self._read_models = read_models

    def get(self, user_id: str) -> int:
        try:
            cached = self._client.get(self._key(user_id))
        except redis.RedisError:
            log.warning("unread counters unavailable; counting in the read model")
            return unread_counts_at(self._read_models, [user_id])[0][user_id]
        if cached is not None:
            return int(cached.split(b":")[2])
        return self.refresh(user_id)

    def refresh(self, user_id: str) -> int:
        """Count the user's unread notifications again and cache the count."""
        return self.refresh_many([user_id])[user_id]

    def refresh_many(self, user_ids: Collection[str]) -> dict[str, int]:
        """Count the users' unread notifications again and cache the counts, in one Redis
        transaction (watch the keys, read them, set those holding an older tag)."""
        counts, version, progress = unread_counts_at(self._read_models, user_ids)
        keys = {self._key(user): count for user, count in counts.items()}
        tag = (version, progress)

        def replace_older(pipe: redis.client.Pipeline[bytes]) -> None:
            cached = cast(list[bytes | None], pipe.mget(list(keys)))  # watched: answers at once
            pipe.multi()
            for (key, count), value in zip(keys.items(), cached, strict=True):
                if value is None or tuple(map(int, value.split(b":")[:2])) <= tag:
                    pipe.set(key, f"{version}:{progress}:{count}", ex=self.TTL_SECONDS)

        try:
            self._client.transaction(replace_older, *keys)  # type: ignore[no-untyped-call]
        except redis.RedisError:
            log.warning("could not cache unread counts", exc_info=True)
        return counts

    def after_batch(self, events: list[RecordedEvent]) -> None:
        """Refresh the counts of everyone whose notifications the batch changed."""
        users = set()
        for recorded in events:
            if recorded.topic == AccountDeleted.topic:
                self._client.delete(self._key(str(recorded.document()["meta"]["aggregate_id"])))
            elif recorded.topic in COUNTED_TOPICS:
                users.add(str(recorded.document()["data"]["recipient_id"]))
        if users:
            self.refresh_many(users)

    @staticmethod
    def _key(user_id: str) -> str:
        return f"notifications:unread:{user_id}"


def render(read_models: ReadModels, user_id: str, row: NotificationRow) -> dict[str, Any]:
    """A notification as the SPA reads it (contract 4.10), in the recipient's language."""
    return render_many(read_models, user_id, [row])[0]


def render_many(
    read_models: ReadModels, user_id: str, rows: list[NotificationRow]
) -> list[dict[str, Any]]:
    language = get_settings(read_models, user_id).get("language", {}).get("appLanguage")
    lang = reference.normalize_lang(language)
    others = sorted({str(r["data"]["userId"]) for r in rows if "userId" in r["data"]})
    names = people(read_models, others)
    views = []
    for row in rows:
        title, message = TEXTS[row["kind"]]
        other = names.get(str(row["data"].get("userId", "")), {"name": ""})
        achievement = title_of(str(row["data"].get("achievement", "")), lang)
        text = message.get(lang).format(
            name=other["name"], level=row["data"].get("level", ""), achievement=achievement
        )
        views.append(
            {
                "id": row["notification_id"],
                "type": row["kind"],
                "category": row["category"],
                "title": title.get(lang),
                "message": text,
                "content": text,
                "isRead": row["read_at"] is not None,
                "createdAt": row["created_at"].isoformat(),
                "clickUrl": row["click_url"],
                "data": row["data"],
                "priority": "NORMAL",
            }
        )
    return views


def notification_changes(
    read_models: ReadModels, user_id: str, window: Window
) -> list[NotificationRow]:
    """The user's notifications created, read or deleted (tombstones) in the window."""
    table = read_models.table(notifications, "notifications")
    query = sa.select(table).where(table.c.recipient_id == user_id)
    return window.rows(read_models, query, table.c.position, NotificationRow)


def push_devices_of(read_models: ReadModels, user_id: str) -> list[PushDeviceRow]:
    table = read_models.table(notifications, "push_devices")
    query = sa.select(table).where(table.c.user_id == user_id).order_by(table.c.registered_at)
    return rows_of(read_models, query, PushDeviceRow)

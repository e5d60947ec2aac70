"""Notification read model: each user's notifications, read marks and the inbox watermark,
and how a notification reads (rendered in the recipient's language with current names)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from domain import reference
from domain.identity import AccountDeleted
from domain.notifications import (
    InboxReadAll,
    NotificationCreated,
    NotificationDeleted,
    NotificationRead,
)
from projections.chat import people
from projections.engine import Projection, ProjectionTx, ReadModels, page_of
from projections.profiles import get_settings

notifications = Projection("notifications")

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
}
"""Title and message per kind, in Korean and English; ``{name}`` is the other person."""


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
    )
    sa.Index(name("ix_notifications_recipient_created"), table.c.recipient_id, table.c.created_at)


@notifications.on(NotificationCreated)
def _created(e: NotificationCreated, tx: ProjectionTx) -> None:
    tx.insert(
        "notifications",
        {
            "notification_id": str(e.aggregate_id),
            "recipient_id": e.recipient_id,
            "kind": e.kind,
            "category": e.category,
            "click_url": e.click_url,
            "data": dict(e.data),
            "created_at": e.meta.occurred_at,
            "read_at": None,
        },
    )


@notifications.on(NotificationRead)
def _read(e: NotificationRead, tx: ProjectionTx) -> None:
    where = {"notification_id": str(e.aggregate_id)}
    tx.update("notifications", where, {"read_at": e.meta.occurred_at})


@notifications.on(NotificationDeleted)
def _deleted(e: NotificationDeleted, tx: ProjectionTx) -> None:
    tx.delete("notifications", {"notification_id": str(e.aggregate_id)})


@notifications.on(InboxReadAll)
def _read_all(e: InboxReadAll, tx: ProjectionTx) -> None:
    table = tx.table("notifications")
    tx.execute(
        table.update()
        .where(
            table.c.recipient_id == e.recipient_id,
            table.c.read_at.is_(None),
            table.c.created_at <= e.read_at,
        )
        .values(read_at=e.read_at)
    )


@notifications.on(AccountDeleted)
def _account_deleted(e: AccountDeleted, tx: ProjectionTx) -> None:
    tx.delete("notifications", {"recipient_id": str(e.aggregate_id)})


# -- queries ----------------------------------------------------------------------------
def page(
    read_models: ReadModels,
    user_id: str,
    *,
    page_number: int,
    size: int,
    category: str | None = None,
    unread_only: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    table = read_models.table(notifications, "notifications")
    conditions: list[Any] = [table.c.recipient_id == user_id]
    if category:
        conditions.append(table.c.category == category.upper())
    if unread_only:
        conditions.append(table.c.read_at.is_(None))
    order = table.c.created_at.desc()
    return page_of(read_models, table, conditions, order_by=order, page=page_number, size=size)


def unread_count(read_models: ReadModels, user_id: str) -> int:
    table = read_models.table(notifications, "notifications")
    query = sa.select(sa.func.count()).where(
        table.c.recipient_id == user_id, table.c.read_at.is_(None)
    )
    with read_models.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def render(read_models: ReadModels, user_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """A notification as the SPA reads it (contract 4.10), in the recipient's language."""
    return render_many(read_models, user_id, [row])[0]


def render_many(
    read_models: ReadModels, user_id: str, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    language = get_settings(read_models, user_id).get("language", {}).get("appLanguage")
    lang = reference.normalize_lang(language)
    others = sorted({str(r["data"]["userId"]) for r in rows if "userId" in r["data"]})
    names = people(read_models, others)
    views = []
    for row in rows:
        title, message = TEXTS[row["kind"]]
        other = names.get(str(row["data"].get("userId", "")), {"name": ""})
        text = message.get(lang).format(name=other["name"])
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

"""Notifications: what a user is told happened, and whether they have seen it.

A notification is created by a policy in answer to another event (a match request, an
acceptance); its id derives from that event and the recipient, so a redelivered event
creates nothing twice. It keeps ids, not names or texts: the words are rendered when read,
in the reader's language and with current names (and nothing personal about another user
is copied into this stream). "Read all" is one watermark event on the user's inbox instead
of one event per notification.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID, uuid5

from pydantic import Field

from domain.aggregate import Aggregate, Cause, applies
from domain.errors import NotFound
from domain.events import DomainEvent

NOTIFICATION_NAMESPACE = UUID("5d2c8e1a-3f7b-4a90-b6d4-8e1f2a3c9b70")
Kind = Literal[
    "match_request", "match_accepted", "match_rejected", "chat", "session_invitation",
    "session_accepted", "session_rescheduled", "session_cancelled", "session_reminder",
    "level_test_result", "achievement",
]  # fmt: skip
Category = Literal["MATCHING", "CHAT", "SESSION", "LEVEL_TEST", "ACHIEVEMENT", "SYSTEM"]


def notification_id(source_event_id: UUID, recipient_id: str) -> UUID:
    return uuid5(NOTIFICATION_NAMESPACE, f"{source_event_id}|{recipient_id}")


def inbox_id(user_id: str) -> UUID:
    return uuid5(NOTIFICATION_NAMESPACE, f"inbox|{user_id}")


class NotificationCreated(DomainEvent):
    topic = "notifications.NotificationCreated"

    recipient_id: str = Field(max_length=36)
    kind: Kind
    category: Category
    click_url: str = Field(max_length=200)
    data: dict[str, str | int] = Field(default_factory=dict, max_length=10)
    """Ids the text is rendered from (``userId`` of the other person, ``roomId``, ...)."""


class NotificationRead(DomainEvent):
    topic = "notifications.NotificationRead"

    recipient_id: str = Field(max_length=36)


class NotificationDeleted(DomainEvent):
    topic = "notifications.NotificationDeleted"

    recipient_id: str = Field(max_length=36)


class InboxReadAll(DomainEvent):
    """Everything the user was notified of up to ``read_at`` counts as read."""

    topic = "notifications.InboxReadAll"

    recipient_id: str = Field(max_length=36)
    read_at: datetime


class Notification(Aggregate):
    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.recipient_id = ""
        self.read = False
        self.deleted = False

    def create(
        self,
        cause: Cause,
        *,
        recipient_id: str,
        kind: Kind,
        category: Category,
        click_url: str,
        data: dict[str, str | int],
    ) -> None:
        """Idempotent: the same source event notifies a recipient once."""
        if self.version == 0:
            self._record(
                NotificationCreated,
                cause,
                recipient_id=recipient_id,
                kind=kind,
                category=category,
                click_url=click_url,
                data=data,
            )

    def mark_read(self, cause: Cause, user_id: str) -> None:
        self._require_owner(user_id)
        if not self.read:
            self._record(NotificationRead, cause, recipient_id=user_id)

    def delete(self, cause: Cause, user_id: str) -> None:
        self._require_owner(user_id)
        self._record(NotificationDeleted, cause, recipient_id=user_id)

    def _require_owner(self, user_id: str) -> None:
        """Someone else's notification answers like a missing one."""
        if self.version == 0 or self.deleted or self.recipient_id != user_id:
            raise NotFound("no such notification", code="NOTIFICATION_NOT_FOUND")

    @applies(NotificationCreated)
    def _created(self, e: NotificationCreated) -> None:
        self.recipient_id = e.recipient_id

    @applies(NotificationRead)
    def _read(self, e: NotificationRead) -> None:
        self.read = True

    @applies(NotificationDeleted)
    def _deleted(self, e: NotificationDeleted) -> None:
        self.deleted = True


class NotificationInbox(Aggregate):
    def read_all(self, cause: Cause, user_id: str) -> None:
        if inbox_id(user_id) != self.id:
            raise ValueError("another user's inbox")
        self._record(InboxReadAll, cause, recipient_id=user_id, read_at=cause.occurred_at)

    @applies(InboxReadAll)
    def _read_all(self, e: InboxReadAll) -> None:
        pass

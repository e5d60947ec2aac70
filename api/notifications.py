"""Notifications: the list, unread count, read marks and deletion over REST (contract
4.10), and live pushes over STOMP at ``/ws/notifications`` (contract 5.2)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, WebSocket
from pydantic import BaseModel, ConfigDict, Field

from api.deps import (
    MAX_PAGE,
    CallerDep,
    ReadModelsDep,
    UnreadCountersDep,
    UserContext,
    WebPushDep,
    Writes,
    WritesDep,
)
from api.envelope import ok
from api.services import Services
from api.stomp_session import StompSession
from api.views.notification_destinations import BROADCASTS, IGNORED_SENDS, USER_QUEUES
from commands import notifications as cmd
from commands.base import CommandContext
from domain.errors import RuleViolation
from domain.notifications import inbox_id
from domain.push_devices import device_digest
from infra.fanout import user_channel
from infra.webpush import InvalidSubscription, Subscription, WebPush
from projections import notifications as rm
from projections.notifications import UnreadCounters

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])
sockets = APIRouter(tags=["notifications"])


@router.get("")
def list_notifications(
    caller: CallerDep,
    read_models: ReadModelsDep,
    unread_counters: UnreadCountersDep,
    page: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
    category: Annotated[str | None, Query(max_length=20)] = None,
    unreadOnly: bool = False,  # noqa: N803
    isRead: bool | None = None,  # noqa: N803
) -> dict[str, Any]:
    page = max(page, 1)
    unread = unreadOnly or isRead is False
    rows, total = rm.page(
        read_models, caller.user_id, page_number=page, size=size, category=category,
        unread_only=unread,
    )  # fmt: skip
    if isRead is True:
        rows = [r for r in rows if r["read_at"] is not None]
    pages = (total + size - 1) // size
    return ok(
        {
            "notifications": rm.render_many(read_models, caller.user_id, rows),
            "pagination": {
                "page": page,
                "size": size,
                "totalElements": total,
                "totalPages": pages,
                "hasNext": page < pages,
            },
            "unreadCount": unread_counters.get(caller.user_id),
        }
    )


@router.get("/unread-count")
def unread_count(caller: CallerDep, unread_counters: UnreadCountersDep) -> dict[str, Any]:
    return ok({"unreadCount": unread_counters.get(caller.user_id)})


@router.patch("/read-all")
def read_all(
    caller: CallerDep, ctx: UserContext, writes: WritesDep, unread_counters: UnreadCountersDep
) -> dict[str, Any]:
    outcome = cmd.read_all(writes.bus, ctx, user_id=caller.user_id)
    writes.services.wait_applied(rm.notifications, outcome, inbox_id(caller.user_id))
    return ok({"unreadCount": unread_counters.refresh(caller.user_id)})


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    notification_ids: list[UUID] = Field(min_length=1, max_length=100, alias="notificationIds")


@router.delete("/batch")
def delete_batch(
    body: Batch,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    unread_counters: UnreadCountersDep,
) -> dict[str, Any]:
    for notification in body.notification_ids:
        _change(writes, unread_counters, ctx, "Delete", notification, caller.user_id)
    return ok({"deleted": len(body.notification_ids)})


class PushKeys(BaseModel):
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)


class PushSubscriptionJson(BaseModel):
    """The browser's ``PushSubscription.toJSON()``."""

    endpoint: str = Field(max_length=2048)
    keys: PushKeys


class PushToken(BaseModel):
    """What the SPA posts: the subscription as a JSON string (contract 4.10)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    token: str = Field(max_length=4096)
    device_type: str = Field(default="web", max_length=20, alias="deviceType")

    def subscription(self) -> PushSubscriptionJson:
        try:
            return PushSubscriptionJson.model_validate_json(self.token)
        except ValueError:
            raise RuleViolation(
                "token must be a PushSubscription as JSON", code="INVALID_PUSH_SUBSCRIPTION"
            ) from None


def _checked(web_push: WebPush, body: PushToken) -> Subscription:
    subscription = body.subscription()
    try:
        return web_push.check(
            subscription.endpoint, subscription.keys.p256dh, subscription.keys.auth
        )
    except InvalidSubscription as exc:
        raise RuleViolation(str(exc), code="INVALID_PUSH_SUBSCRIPTION") from None


@router.get("/vapid-public-key")
def vapid_public_key(caller: CallerDep, web_push: WebPushDep) -> dict[str, Any]:
    """The key a client passes to ``PushManager.subscribe`` (null: Web Push is off)."""
    return ok({"publicKey": web_push.public_key, "enabled": web_push.enabled})


@router.post("/push-token")
def register_push_token(
    body: PushToken, caller: CallerDep, ctx: UserContext, writes: WritesDep, web_push: WebPushDep
) -> dict[str, Any]:
    subscription = _checked(web_push, body)
    outcome = cmd.register_push_device(
        writes.bus, ctx, user_id=caller.user_id, endpoint=subscription.endpoint,
        p256dh=subscription.p256dh, auth=subscription.auth, device_type=body.device_type,
    )  # fmt: skip
    return ok({"deviceId": outcome.result["device"], "pushEnabled": web_push.enabled})


@router.delete("/push-token")
def unregister_push_token(
    body: PushToken, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    device = device_digest(body.subscription().endpoint)
    cmd.remove_push_device(writes.bus, ctx, user_id=caller.user_id, device=device,
                           reason="unsubscribed")  # fmt: skip
    return ok({"deviceId": device, "removed": True})


def _change(
    writes: Writes,
    unread_counters: UnreadCounters,
    ctx: CommandContext,
    name: str,
    notification: UUID,
    user: str,
) -> None:
    """Read or delete one notification and wait until the list shows it."""
    outcome = cmd.on_notification(writes.bus, ctx, name, notification, user)
    writes.services.wait_applied(rm.notifications, outcome, notification)
    unread_counters.refresh(user)


@router.patch("/{notification_id}/read")
def mark_read(
    notification_id: UUID,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    unread_counters: UnreadCountersDep,
) -> dict[str, Any]:
    _change(writes, unread_counters, ctx, "Read", notification_id, caller.user_id)
    return ok({"id": str(notification_id), "isRead": True})


@router.delete("/{notification_id}")
def delete(
    notification_id: UUID,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    unread_counters: UnreadCountersDep,
) -> dict[str, Any]:
    _change(writes, unread_counters, ctx, "Delete", notification_id, caller.user_id)
    return ok({"id": str(notification_id), "deleted": True})


class NotificationDestinations:
    def channel_for(self, rt: Services, user_id: str, destination: str) -> str | None:
        if destination in USER_QUEUES:
            return user_channel(user_id, USER_QUEUES[destination])
        return BROADCASTS.get(destination)

    def on_send(self, rt: Services, user_id: str, destination: str, body: bytes) -> None:
        """The SPA's helpers exist but are never called; accept them and do nothing."""
        if destination not in IGNORED_SENDS:
            raise ValueError(f"unknown destination {destination[:60]!r}")


@sockets.websocket("/ws/notifications")
async def notification_socket(websocket: WebSocket) -> None:
    await StompSession(websocket, websocket.app.state.runtime, NotificationDestinations()).run()

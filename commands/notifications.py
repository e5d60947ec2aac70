"""Notification commands and the policies that create and push notifications."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

from commands.base import CommandBus, CommandContext, Outcome, UnitOfWork
from domain.events import DomainEvent
from domain.notifications import (
    Category,
    Kind,
    Notification,
    NotificationInbox,
    inbox_id,
    notification_id,
)
from domain.push_devices import PushDevices, RemovalReason, push_devices_id


def notify(
    bus: CommandBus,
    ctx: CommandContext,
    source: DomainEvent,
    *,
    recipient_id: str,
    kind: Kind,
    category: Category,
    click_url: str,
    data: dict[str, str | int],
) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        aggregate_id = notification_id(source.meta.event_id, recipient_id)
        notification = uow.load(Notification, aggregate_id)
        notification.create(
            uow.cause,
            recipient_id=recipient_id,
            kind=kind,
            category=category,
            click_url=click_url,
            data=data,
        )
        return {"notification_id": str(aggregate_id)}

    # One event may notify several people: each recipient is its own command.
    if ctx.idempotency_key is not None:
        ctx = replace(ctx, idempotency_key=f"{ctx.idempotency_key}|{recipient_id}")
    return bus.run("notifications.Notify", ctx, decide)


def on_notification(
    bus: CommandBus, ctx: CommandContext, name: str, notification: UUID, user_id: str
) -> Outcome:
    """Mark read (``Read``) or delete (``Delete``) one of the user's notifications."""

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        aggregate = uow.load(Notification, notification)
        (aggregate.mark_read if name == "Read" else aggregate.delete)(uow.cause, user_id)
        return {"notification_id": str(notification)}

    return bus.run(f"notifications.{name}", ctx, decide)


def read_all(bus: CommandBus, ctx: CommandContext, *, user_id: str) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        uow.load(NotificationInbox, inbox_id(user_id)).read_all(uow.cause, user_id)
        return {}

    return bus.run("notifications.ReadAll", ctx, decide)


"""The job that delivers one notification to one push device (workers/web_push.py)."""


def register_push_device(
    bus: CommandBus,
    ctx: CommandContext,
    *,
    user_id: str,
    endpoint: str,
    p256dh: str,
    auth: str,
    device_type: str,
) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        devices = uow.load(PushDevices, push_devices_id(user_id))
        device = devices.register(uow.cause, user_id=user_id, endpoint=endpoint, p256dh=p256dh,
                                  auth=auth, device_type=device_type)  # fmt: skip
        return {"device": device}

    return bus.run("notifications.RegisterPushDevice", ctx, decide)


def remove_push_device(
    bus: CommandBus, ctx: CommandContext, *, user_id: str, device: str, reason: RemovalReason
) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        devices = uow.load(PushDevices, push_devices_id(user_id))
        devices.remove(uow.cause, user_id=user_id, device=device, reason=reason)
        return {"device": device}

    return bus.run("notifications.RemovePushDevice", ctx, decide)

"""The Web Push job: one notification to one of the recipient's push devices.

Sent by the ``notifications.web_pusher`` policy for every device; whether the user still
needs the push is decided here, at delivery time: not if a socket of theirs is open (the
live push reached them), not if they read or deleted it meanwhile, not with push turned off
or inside their quiet hours. A device the push service no longer knows (404/410) is removed
through a command; a transient failure raises, and Dramatiq retries with backoff.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any
from uuid import UUID

from commands.base import CommandContext
from commands.notifications import remove_push_device
from domain.notifications import Notification
from domain.push_devices import PushDevices, push_devices_id
from domain.settings import NotificationSettings
from eventflow.queries import as_row
from infra.jobs import WEB_PUSH
from infra.webpush import Delivery, Subscription
from projections.notifications import NotificationRow, push_devices_of, render
from projections.profiles import settings_of, time_zone_of
from workers.jobs import job
from workers.services import WorkerServices

log = logging.getLogger(__name__)


class DeviceNotProjectedYet(Exception):
    """The device is registered but not yet in the read model; the job is retried."""


@job(WEB_PUSH, max_retries=8)
def web_push(runtime: WorkerServices, user_id: str, device: str, row: dict[str, Any]) -> None:
    """``row``: the new notification's row as the job's JSON carries it (time as ISO text)."""
    if not runtime.web_push.enabled:
        return
    stored = as_row(
        NotificationRow, row | {"created_at": datetime.fromisoformat(row["created_at"])}
    )
    found = [d for d in push_devices_of(runtime.read_models, user_id) if d["device"] == device]
    if not found:
        devices = runtime.store.load(PushDevices, push_devices_id(user_id))
        if devices is not None and device in devices.devices:
            # Registered, but the read model (which holds the endpoint) lags: retry later.
            raise DeviceNotProjectedYet(device)
        return
    if not _still_wanted(runtime, user_id, stored):
        return
    view = render(runtime.read_models, user_id, stored)
    payload = {key: view[key] for key in ("id", "type", "title", "message", "clickUrl", "data")}
    target = Subscription(found[0]["endpoint"], found[0]["p256dh"], found[0]["auth"])
    if runtime.web_push.send(target, payload) is Delivery.GONE:
        remove_push_device(runtime.bus, CommandContext(actor_id="worker.web_push"),
                           user_id=user_id, device=device, reason="expired")  # fmt: skip


def _still_wanted(runtime: WorkerServices, user_id: str, row: NotificationRow) -> bool:
    if runtime.presence.of([user_id], time.time())[user_id]["status"] == "ONLINE":
        return False
    notification = runtime.store.load(Notification, UUID(row["notification_id"]))
    if notification is None or notification.read or notification.deleted:
        return False
    settings = settings_of(runtime.read_models, user_id, NotificationSettings)
    local = datetime.now(time_zone_of(runtime.read_models, user_id))
    return settings.pushEnabled and not settings.quiet_at(local.time())

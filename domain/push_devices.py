"""Web Push devices: the browser push subscriptions a user registered (the SPA's VAPID flow).

One aggregate per user holds their devices, keyed by a digest of the subscription endpoint
(the endpoint itself is a capability URL: personal, encrypted with the user's key, and
never needed to name a device). Registering the same subscription again records nothing; a
user has at most ``MAX_DEVICES`` and a new one replaces the longest-registered; a device the
push service no longer knows is removed as ``expired``.
"""

from __future__ import annotations

import hashlib
from typing import Literal
from uuid import UUID, uuid5

from pydantic import Field

from domain.aggregate import Aggregate, Cause, applies
from domain.events import DomainEvent, Personal

PUSH_NAMESPACE = UUID("0c6f3d52-8a1e-4f7b-9d25-6b8e4a1c7f30")
MAX_DEVICES = 10
RemovalReason = Literal["unsubscribed", "expired", "replaced"]


def push_devices_id(user_id: str) -> UUID:
    return uuid5(PUSH_NAMESPACE, f"push-devices|{user_id}")


def device_digest(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()[:32]


class PushDeviceRegistered(DomainEvent):
    topic = "notifications.PushDeviceRegistered"
    personal_subject = "user_id"

    user_id: str = Field(max_length=36)
    device: str = Field(max_length=32)
    endpoint: Personal = Field(max_length=4096)
    p256dh: Personal = Field(max_length=400)
    auth: Personal = Field(max_length=200)
    device_type: str = Field(max_length=20)


class PushDeviceRemoved(DomainEvent):
    topic = "notifications.PushDeviceRemoved"

    user_id: str = Field(max_length=36)
    device: str = Field(max_length=32)
    reason: RemovalReason


class PushDevices(Aggregate):
    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.devices: dict[str, tuple[str, str]] = {}
        """device digest -> (p256dh, auth), oldest registration first."""

    def register(
        self,
        cause: Cause,
        *,
        user_id: str,
        endpoint: str,
        p256dh: str,
        auth: str,
        device_type: str,
    ) -> str:
        """Returns the device's digest; a repeat registration records nothing."""
        self._require(user_id)
        device = device_digest(endpoint)
        if self.devices.get(device) == (p256dh, auth):
            return device
        if device not in self.devices and len(self.devices) >= MAX_DEVICES:
            oldest = next(iter(self.devices))
            self._record(PushDeviceRemoved, cause, user_id=user_id, device=oldest,
                         reason="replaced")  # fmt: skip
        keys = {"p256dh": p256dh, "auth": auth}
        self._record(PushDeviceRegistered, cause, user_id=user_id, device=device,
                     endpoint=endpoint, device_type=device_type, **keys)  # fmt: skip
        return device

    def remove(self, cause: Cause, *, user_id: str, device: str, reason: RemovalReason) -> None:
        """Removing a device that is already gone records nothing (a redelivered job)."""
        self._require(user_id)
        if device in self.devices:
            self._record(PushDeviceRemoved, cause, user_id=user_id, device=device, reason=reason)

    def _require(self, user_id: str) -> None:
        if push_devices_id(user_id) != self.id:
            raise ValueError("push devices of another user")

    @applies(PushDeviceRegistered)
    def _registered(self, e: PushDeviceRegistered) -> None:
        self.devices.pop(e.device, None)
        self.devices[e.device] = (e.p256dh, e.auth)

    @applies(PushDeviceRemoved)
    def _removed(self, e: PushDeviceRemoved) -> None:
        self.devices.pop(e.device, None)

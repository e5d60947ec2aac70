"""What the routers and sockets use of the running system.

The composition root (``app.runtime.Runtime``) provides it; the API depends on this view
of it, not on the runtime, so imports point one way (``app`` above ``api``).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol
from uuid import UUID

import redis

from commands.base import CommandBus, Outcome
from eventflow.projection import Projection
from eventflow.readmodels import ReadModels
from eventflow.store import EventStore
from infra.blobs import BlobStore
from infra.fanout import Fanout
from infra.jobs import JobQueue
from infra.presence import Presence
from infra.ratelimit import LoginThrottle, RateLimit
from infra.revocations import Revocations
from infra.room_registry import RoomRegistry
from infra.settings import Settings
from infra.tokens import TokenService
from infra.webpush import WebPush
from projections.notifications import UnreadCounters


class Services(Protocol):
    health_report: tuple[float, dict[str, Any]] | None
    """The last dependency check and when it ran (health probes are cached briefly)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> EventStore: ...
    @property
    def read_models(self) -> ReadModels: ...
    @property
    def bus(self) -> CommandBus: ...
    @property
    def jobs(self) -> JobQueue: ...
    @property
    def tokens(self) -> TokenService: ...
    @property
    def pepper(self) -> str: ...
    @property
    def revocations(self) -> Revocations: ...
    @property
    def login_throttle(self) -> LoginThrottle: ...
    @property
    def redis(self) -> redis.Redis[bytes]: ...
    @property
    def fanout(self) -> Fanout: ...
    @property
    def blobs(self) -> BlobStore: ...
    @property
    def unread_counters(self) -> UnreadCounters: ...
    @property
    def web_push(self) -> WebPush: ...
    @property
    def room_limit(self) -> RateLimit: ...
    @property
    def ai_limit(self) -> RateLimit: ...
    @property
    def rooms(self) -> RoomRegistry: ...
    @property
    def presence(self) -> Presence: ...
    @property
    def stop_event(self) -> threading.Event: ...
    @property
    def uses_kafka(self) -> bool: ...

    def wait_applied(
        self, projection: Projection, outcome: Outcome, aggregate_id: UUID,
        timeout: float | None = None,
    ) -> bool: ...  # fmt: skip

    def next_applied(
        self, projection: Projection, aggregate_id: UUID, after: int, timeout: float
    ) -> int: ...

    def applied_everywhere(self, projections: set[Projection]) -> int: ...

    def read_models_behind(self) -> float: ...

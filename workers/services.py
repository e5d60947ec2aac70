"""What the background jobs use of the running system: a narrow view the composition
root (``app.runtime``) provides, so jobs depend on services, not on the whole runtime."""

from __future__ import annotations

from typing import Protocol

from commands.base import CommandBus
from eventflow.readmodels import ReadModels
from eventflow.store import EventStore
from infra.blobs import BlobStore
from infra.presence import Presence
from infra.settings import Settings
from infra.webpush import WebPush


class WorkerServices(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> EventStore: ...

    @property
    def bus(self) -> CommandBus: ...

    @property
    def read_models(self) -> ReadModels: ...

    @property
    def blobs(self) -> BlobStore: ...

    @property
    def web_push(self) -> WebPush: ...

    @property
    def presence(self) -> Presence: ...

"""Dramatiq wiring: a Redis broker in the distributed mode, an in-process one embedded.

Actors are declared against whatever broker is global when their module is imported, so
``configure`` must run before any actor module is imported; the CLI roles do that first.
The embedded mode uses Dramatiq's in-memory ``StubBroker`` with a real ``Worker`` thread
pool in the server process: the same actors, retries and backoff, no server to install.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from infra.settings import Settings

ACTOR_MODULES: list[str] = []
"""Modules that declare actors; the ``worker`` role imports them after ``configure``."""


def _middleware() -> list[dramatiq.Middleware]:
    return [AgeLimit(), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(), Retries()]


def configure(settings: Settings) -> dramatiq.Broker:
    broker: dramatiq.Broker
    if settings.redis_url:
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=settings.redis_url, namespace="languagemate", middleware=_middleware()
        )
    else:
        broker = StubBroker(middleware=_middleware())
        broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    return broker


def start_in_process_worker(broker: dramatiq.Broker, threads: int = 2) -> dramatiq.Worker:
    """Run actors inside this process (embedded mode and tests)."""
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    return worker

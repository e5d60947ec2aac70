"""Dramatiq wiring: a Redis broker in the distributed mode, an in-process one embedded.

Each runtime owns its broker (nothing is installed as Dramatiq's global broker), so two
runtimes in one process, as in the tests, never consume each other's jobs. The embedded
mode uses Dramatiq's in-memory ``StubBroker`` with a real ``Worker`` thread pool in the
server process: the same actors, retries and backoff, no server to install.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from infra.settings import Settings


def _middleware() -> list[dramatiq.Middleware]:
    return [AgeLimit(), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(),
            Retries(), CurrentMessage()]  # fmt: skip


def make_broker(settings: Settings) -> dramatiq.Broker:
    broker: dramatiq.Broker
    if settings.redis_url:
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=settings.redis_url, namespace="languagemate", middleware=_middleware()
        )
    else:
        broker = StubBroker(middleware=_middleware())
        broker.emit_after("process_boot")
    return broker


def start_in_process_worker(broker: dramatiq.Broker, threads: int = 2) -> dramatiq.Worker:
    """Consume ``broker``'s queues on a thread pool in this process."""
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    return worker

"""Dramatiq wiring: a Redis broker in the distributed mode, an in-process one embedded.

Each runtime owns its broker (nothing is installed as Dramatiq's global broker), so two
runtimes in one process, as in the tests, never consume each other's jobs. The embedded
mode uses Dramatiq's in-memory ``StubBroker`` with a real ``Worker`` thread pool in the
server process: the same actors, retries and backoff, no server to install. Jobs that
answer a request (the AI service routes) keep their return values in a results backend
beside the broker (Redis, or an in-memory one embedded).
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
from dramatiq.results import ResultBackend, Results
from dramatiq.results.backends import RedisBackend, StubBackend

from infra.settings import Settings

RESULT_TTL_MS = 120_000
"""A result nobody fetched within this is dropped (the caller gave up long before)."""
MAINTENANCE_CHANCE = 50_000
"""Per million broker commands: how often one runs the maintenance that gives the jobs of
a worker that stopped beating (killed, crashed) back to the queue. Dramatiq's default (one
in a thousand) can leave a dead worker's job waiting for minutes; maintenance is a cheap
scan of the heartbeats, and our consumers poll ten times a second."""


def _middleware(results: Results) -> list[dramatiq.Middleware]:
    return [AgeLimit(), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(),
            Retries(), CurrentMessage(), results]  # fmt: skip


def make_broker(settings: Settings) -> dramatiq.Broker:
    broker: dramatiq.Broker
    backend: ResultBackend
    if settings.redis_url:
        backend = RedisBackend(url=settings.redis_url, namespace="languagemate-results")
    else:
        backend = StubBackend()
    results = Results(backend=backend, result_ttl=RESULT_TTL_MS)  # type: ignore[no-untyped-call]
    if settings.redis_url:
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=settings.redis_url,
            namespace="languagemate",
            heartbeat_timeout=int(settings.job_heartbeat_seconds * 1000),
            maintenance_chance=MAINTENANCE_CHANCE,
            middleware=_middleware(results),
        )
    else:
        broker = StubBroker(middleware=_middleware(results))
        broker.emit_after("process_boot")
    return broker


def results_backend(broker: dramatiq.Broker) -> ResultBackend:
    backend: ResultBackend = next(m.backend for m in broker.middleware if isinstance(m, Results))
    return backend


def start_in_process_worker(broker: dramatiq.Broker, threads: int = 2) -> dramatiq.Worker:
    """Consume ``broker``'s queues on a thread pool in this process."""
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    return worker

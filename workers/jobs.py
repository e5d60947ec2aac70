"""What runs the background jobs: one function per job name of ``infra.jobs``.

A job is a plain function of the worker's services and JSON-able arguments, registered
under its name with its retry policy (its queue, and whether it answers, are the
contract's, in ``infra.jobs``). The actors are declared on a runtime's own broker when
that runtime starts working (the ``worker`` role, or ``serve``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import dramatiq
from dramatiq import Worker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage
from opentelemetry.trace import SpanKind

from infra import tracing
from infra.jobs import JOBS, JobQueue
from infra.logs import correlated
from workers.services import WorkerServices

log = logging.getLogger(__name__)
JOB_MODULES = ("workers.embeddings", "workers.level_tests", "workers.web_push",
               "workers.ai_service")  # fmt: skip
"""Modules whose import registers jobs."""


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[..., Any]
    max_retries: int = 5
    min_backoff_ms: int = 1_000
    max_backoff_ms: int = 60_000
    time_limit_ms: int = 120_000
    give_up: Callable[..., None] | None = None
    """Called as ``give_up(services, *args, error=exc)`` when the last retry fails too, so
    the job's owner learns of it (a level test ends as failed instead of waiting forever)."""


RUNNERS: dict[str, Job] = {}


def job(
    name: str, *, give_up: Callable[..., None] | None = None, **options: int
) -> Callable[[Callable[..., Any]], Job]:
    """Register ``fn(services, *args)`` as what runs the job ``name``."""

    def register(fn: Callable[..., Any]) -> Job:
        if name not in JOBS:
            raise ValueError(f"job {name} is not in infra.jobs.JOBS")
        if name in RUNNERS:
            raise ValueError(f"job {name} is registered twice")
        RUNNERS[name] = Job(name, fn, give_up=give_up, **options)
        return RUNNERS[name]

    return register


def registry() -> dict[str, Job]:
    for module in JOB_MODULES:
        import_module(module)
    return RUNNERS


def start_workers(queue: JobQueue, services: WorkerServices, threads: int = 2) -> Worker:
    """Declare every job as an actor bound to ``services`` on the queue's broker and
    consume its queues on a thread pool in this process."""
    for spec in registry().values():
        dramatiq.Actor(
            _bind(spec, services),
            actor_name=spec.name,
            queue_name=JOBS[spec.name].queue,
            broker=queue.broker,
            priority=0,
            options={
                "max_retries": spec.max_retries,
                "min_backoff": spec.min_backoff_ms,
                "max_backoff": spec.max_backoff_ms,
                "time_limit": spec.time_limit_ms,
                "store_results": JOBS[spec.name].answers,
            },
        )
    worker = Worker(
        queue.broker, worker_threads=threads, worker_timeout=_idle_poll_ms(queue.broker)
    )
    worker.start()
    return worker


def _idle_poll_ms(broker: dramatiq.Broker) -> int:
    """How long an idle consumer waits before looking again. Redis consumers sleep that
    long between fetches, so it bounds how late a job starts (0.1 s); the in-process
    broker's consumers block on a queue that wakes them at once, so there it only sets how
    often an idle server wakes up for nothing (once a second)."""
    return 100 if isinstance(broker, RedisBroker) else 1000


def _bind(spec: Job, services: WorkerServices) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        message = CurrentMessage.get_current_message()
        options = message.options if message is not None else {}
        attributes = {"languagemate.job": spec.name, "messaging.system": "dramatiq",
                      "languagemate.job.retries": options.get("retries", 0)}  # fmt: skip
        with (
            correlated(options.get("correlation_id")),
            tracing.span(
                f"job {spec.name}",
                kind=SpanKind.CONSUMER,
                attributes=attributes,
                parent_context=options.get(tracing.TRACE_CONTEXT),
            ),  # fmt: skip
        ):
            return _run(message, *args)

    def _run(message: dramatiq.Message[Any] | None, *args: Any) -> Any:
        try:
            return spec.run(services, *args)
        except Exception as exc:
            retries = message.options.get("retries", 0) if message is not None else 0
            if spec.give_up is None or retries < spec.max_retries:
                raise
            log.error("job %s failed for good: %r", spec.name, exc)
            spec.give_up(services, *args, error=exc)

    run.__name__ = spec.name.replace(".", "_")
    return run

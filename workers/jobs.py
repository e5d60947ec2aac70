"""Background jobs by name: policies send them, the worker role (or ``serve``) runs them.

A job is a plain function of the runtime and JSON-able arguments, registered under a name
with its queue and retry policy. Senders need only the name, so the process that sends a
job (a policy) never imports what runs it (models, numpy), and the actors are declared on a
runtime's own broker when that runtime starts working. A job may also answer: ``call``
waits for its return value (the AI service routes run Whisper and the language model on
the workers, not in the API process).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.middleware import CurrentMessage
from dramatiq.results import ResultFailure, ResultTimeout

from infra.logs import CORRELATION_ID, correlated
from workers.broker import results_backend, start_in_process_worker

if TYPE_CHECKING:
    from infra.runtime import Runtime

log = logging.getLogger(__name__)
JOB_MODULES = ("workers.embeddings", "workers.level_tests", "workers.web_push",
               "workers.ai_service")  # fmt: skip
"""Modules whose import registers jobs."""


@dataclass(frozen=True)
class Job:
    name: str
    queue: str
    run: Callable[..., Any]
    max_retries: int = 5
    min_backoff_ms: int = 1_000
    max_backoff_ms: int = 60_000
    time_limit_ms: int = 120_000
    give_up: Callable[..., None] | None = None
    """Called as ``give_up(runtime, *args, error=exc)`` when the last retry fails too, so
    the job's owner learns of it (a level test ends as failed instead of waiting forever)."""
    answers: bool = False
    """The job's return value is kept for ``JobQueue.call``."""


class JobTimeout(Exception):
    """No worker answered in time (none running, or all busy)."""


class JobFailed(Exception):
    """The job raised; the message names the exception type only (no personal data)."""


JOBS: dict[str, Job] = {}


def job(
    name: str,
    *,
    queue: str,
    give_up: Callable[..., None] | None = None,
    answers: bool = False,
    **options: int,
) -> Callable[[Callable[..., Any]], Job]:
    """Register ``fn(runtime, *args)`` as the job ``name``."""

    def register(fn: Callable[..., Any]) -> Job:
        if name in JOBS:
            raise ValueError(f"job {name} is registered twice")
        JOBS[name] = Job(name, queue, fn, give_up=give_up, answers=answers, **options)
        return JOBS[name]

    return register


def registry() -> dict[str, Job]:
    for module in JOB_MODULES:
        import_module(module)
    return JOBS


class JobQueue:
    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker
        self._worker: dramatiq.Worker | None = None

    def send(self, name: str, *args: Any) -> None:
        """Enqueue a job (at least once: a job must tolerate running twice)."""
        self._enqueue(name, args)

    def _enqueue(self, name: str, args: tuple[Any, ...]) -> dramatiq.Message[Any]:
        queue = registry()[name].queue
        self.broker.declare_queue(queue)
        # The sender's correlation id travels with the job, so the worker's log lines
        # join the request's and the policy's.
        options = {"correlation_id": CORRELATION_ID.get()} if CORRELATION_ID.get() else {}
        return self.broker.enqueue(
            dramatiq.Message(
                queue_name=queue, actor_name=name, args=args, kwargs={}, options=options
            )
        )

    def call(self, name: str, *args: Any, timeout: float) -> Any:
        """Run a job that answers on a worker and return its value: ``JobTimeout`` when
        none answers within ``timeout`` seconds, ``JobFailed`` when it raised."""
        if not registry()[name].answers:
            raise ValueError(f"job {name} does not answer")
        message = self._enqueue(name, args)
        try:
            return message.get_result(
                backend=results_backend(self.broker), block=True, timeout=int(timeout * 1000)
            )
        except ResultTimeout:
            raise JobTimeout(name) from None
        except ResultFailure as failure:
            raise JobFailed(f"{name} raised {failure.orig_exc_type}") from None

    def start(self, runtime: Runtime, threads: int = 2) -> None:
        """Declare every job as an actor bound to ``runtime`` and start consuming."""
        for spec in registry().values():
            dramatiq.Actor(
                _bind(spec, runtime),
                actor_name=spec.name,
                queue_name=spec.queue,
                broker=self.broker,
                priority=0,
                options={
                    "max_retries": spec.max_retries,
                    "min_backoff": spec.min_backoff_ms,
                    "max_backoff": spec.max_backoff_ms,
                    "time_limit": spec.time_limit_ms,
                    "store_results": spec.answers,
                },
            )
        self._worker = start_in_process_worker(self.broker, threads)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        self.broker.close()


def _bind(spec: Job, runtime: Runtime) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        message = CurrentMessage.get_current_message()
        with correlated(message.options.get("correlation_id") if message else None):
            return _run(message, *args)

    def _run(message: dramatiq.Message[Any] | None, *args: Any) -> Any:
        try:
            return spec.run(runtime, *args)
        except Exception as exc:
            retries = message.options.get("retries", 0) if message is not None else 0
            if spec.give_up is None or retries < spec.max_retries:
                raise
            log.error("job %s failed for good: %r", spec.name, exc)
            spec.give_up(runtime, *args, error=exc)

    run.__name__ = spec.name.replace(".", "_")
    return run

"""Background jobs as their senders see them: every job by name, and the queue to send
them to.

Policies send jobs and the AI service routes call them, but neither imports what runs
them (models, numpy): the names and queues below are the contract, and ``workers.jobs``
registers a runner for each. A job may answer: ``JobQueue.call`` waits for its return
value (the AI service routes run Whisper and the language model on the workers).

Dramatiq wiring: a Redis broker in the distributed mode, an in-process one embedded. Each
runtime owns its broker (nothing is installed as Dramatiq's global broker), so two
runtimes in one process, as in the tests, never consume each other's jobs. The embedded
mode uses Dramatiq's in-memory ``StubBroker``, consumed by a real ``Worker`` thread pool
in the server process: the same actors, retries and backoff, no server to install.
Answers are kept in a results backend beside the broker (Redis, or in memory embedded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
from dramatiq.results import ResultBackend, ResultFailure, Results, ResultTimeout
from dramatiq.results.backends import RedisBackend, StubBackend

from infra import tracing
from infra.logs import CORRELATION_ID
from infra.settings import Settings


@dataclass(frozen=True)
class JobSpec:
    queue: str
    answers: bool = False
    """Its return value is kept for :meth:`JobQueue.call`."""


EMBED_PROFILE = "matching.embed_profile"
TRANSCRIBE_ANSWER = "leveltest.transcribe"
ASSESS_TEST = "leveltest.assess"
WEB_PUSH = "notifications.web_push"
AI_TRANSCRIBE = "ai.transcribe"
AI_EVALUATE = "ai.evaluate"
AI_CONVERSATION_FEEDBACK = "ai.conversation_feedback"
JOBS: dict[str, JobSpec] = {
    EMBED_PROFILE: JobSpec("embeddings"),
    TRANSCRIBE_ANSWER: JobSpec("speech"),
    ASSESS_TEST: JobSpec("speech"),
    WEB_PUSH: JobSpec("push"),
    AI_TRANSCRIBE: JobSpec("ai", answers=True),
    AI_EVALUATE: JobSpec("ai", answers=True),
    AI_CONVERSATION_FEEDBACK: JobSpec("ai", answers=True),
}
QUEUES = sorted({spec.queue for spec in JOBS.values()})


class JobTimeout(Exception):
    """No worker answered in time (none running, or all busy)."""


class JobFailed(Exception):
    """The job raised; the message names the exception type only (no personal data)."""


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


class JobQueue:
    """Sends jobs to the workers (and waits for those that answer).

    ``delays`` holds back the jobs of some names for a while after they are sent: a job
    that works on the latest state (the profile embedding) then runs once for a burst of
    changes, since the runs after the first find nothing new to do."""

    def __init__(self, broker: dramatiq.Broker, delays: dict[str, float] | None = None) -> None:
        self.broker = broker
        self.delays = delays or {}

    def send(self, name: str, *args: Any) -> None:
        """Enqueue a job (at least once: a job must tolerate running twice)."""
        self._enqueue(name, args, self.delays.get(name, 0.0))

    def _enqueue(
        self, name: str, args: tuple[Any, ...], delay_seconds: float = 0.0
    ) -> dramatiq.Message[Any]:
        queue = JOBS[name].queue
        self.broker.declare_queue(queue)
        # The sender's correlation id and trace context travel with the job, so the
        # worker's log lines join the request's and the policy's, and its span their trace.
        options: dict[str, Any] = {}
        if CORRELATION_ID.get():
            options["correlation_id"] = CORRELATION_ID.get()
        if trace := tracing.carrier():
            options[tracing.TRACE_CONTEXT] = trace
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=queue, actor_name=name, args=args, kwargs={}, options=options
        )
        return self.broker.enqueue(message, delay=int(delay_seconds * 1000) or None)

    def call(self, name: str, *args: Any, timeout: float) -> Any:
        """Run a job that answers on a worker and return its value: ``JobTimeout`` when
        none answers within ``timeout`` seconds, ``JobFailed`` when it raised."""
        if not JOBS[name].answers:
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

    def depths(self) -> list[dict[str, Any]]:
        """Waiting, delayed (retry backoff) and dead-lettered jobs per queue."""
        broker = self.broker
        out = []
        for name in QUEUES:
            if isinstance(broker, RedisBroker):
                client, prefix = broker.client, f"{broker.namespace}:{name}"
                depth, delayed = client.llen(prefix), client.llen(f"{prefix}.DQ")
                dead = client.zcard(f"{prefix}.XQ")
            elif isinstance(broker, StubBroker):
                depth = broker.queues[name].qsize() if name in broker.queues else 0
                delayed = (
                    broker.queues[f"{name}.DQ"].qsize() if f"{name}.DQ" in broker.queues else 0
                )
                dead = len(broker.dead_letters_by_queue.get(name, []))
            else:  # pragma: no cover - only the two brokers above are ever built
                continue
            out.append({"queue": name, "waiting": int(depth), "delayed": int(delayed),
                        "dead": int(dead)})  # fmt: skip
        return out

    def close(self) -> None:
        self.broker.close()

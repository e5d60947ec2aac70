"""A snapshot of the running system for the admin dashboard, from shared state only.

Prometheus gauges live in each process, so the API process cannot see the relay's or the
workers'; everything here is read from where every process writes: the event log (event
rate from its tail), the relay's position row (relay lag), the projection tracking tables
(projection lag and errors) and the job broker (queue depth, delayed and dead jobs).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from infra.relay import RelayPosition

if TYPE_CHECKING:
    from infra.runtime import Runtime

TAIL = 5_000
"""Events read from the end of the log for the event rate (an hour at up to ~80/s)."""
QUEUES = ("embeddings", "speech", "ai", "push")


def event_rate(rt: Runtime, minutes: int = 60) -> list[dict[str, Any]]:
    """Events per minute over the last ``minutes``, from the last ``TAIL`` events."""
    head = rt.store.max_position()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    since = now - timedelta(minutes=minutes - 1)
    per_minute: Counter[datetime] = Counter()
    for event in rt.store.read(max(head - TAIL, 0), TAIL):
        occurred = datetime.fromisoformat(orjson.loads(event.state)["meta"]["occurred_at"])
        minute = occurred.replace(second=0, microsecond=0)
        if minute >= since:
            per_minute[minute] += 1
    slots = [since + timedelta(minutes=i) for i in range(minutes)]
    return [{"minute": slot.isoformat(), "events": per_minute[slot]} for slot in slots]


def queues(rt: Runtime) -> list[dict[str, Any]]:
    """Waiting, delayed (retry backoff) and dead-lettered jobs per queue."""
    broker = rt.jobs.broker
    out = []
    for name in QUEUES:
        if isinstance(broker, RedisBroker):
            client, prefix = broker.client, f"{broker.namespace}:{name}"
            depth, delayed = client.llen(prefix), client.llen(f"{prefix}.DQ")
            dead = client.zcard(f"{prefix}.XQ")
        elif isinstance(broker, StubBroker):
            depth = broker.queues[name].qsize() if name in broker.queues else 0
            delayed = broker.queues[f"{name}.DQ"].qsize() if f"{name}.DQ" in broker.queues else 0
            dead = len(broker.dead_letters_by_queue.get(name, []))
        else:  # pragma: no cover - only the two brokers above are ever built
            continue
        out.append({"queue": name, "waiting": int(depth), "delayed": int(delayed),
                    "dead": int(dead)})  # fmt: skip
    return out


def snapshot(rt: Runtime) -> dict[str, Any]:
    head = rt.store.max_position()
    relay = None
    if rt.uses_kafka:
        position = RelayPosition(rt.store, "kafka").load()
        relay = {"position": position, "lag": max(head - position, 0)}
    projections = [
        {"projection": p["projection"], "position": p["position"], "lag": p["lag"],
         "error": p["error"], "stale": p["stale"]}
        for p in rt.read_models.status(head)
    ]  # fmt: skip
    return {"head": head, "eventRate": event_rate(rt), "relay": relay,
            "projections": projections, "queues": queues(rt)}  # fmt: skip

"""A snapshot of the running system for the admin dashboard, from shared state only.

Prometheus gauges live in each process, so the API process cannot see the relay's or the
workers'; everything here is read from where every process writes: the event log (event
rate from its tail), the relay's position row (relay lag), the projection tracking tables
(projection lag and errors) and the job broker (queue depth, delayed and dead jobs).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from api.services import Services
from eventflow.relay import RelayPosition
from infra.metrics import SharedState

TAIL = 5_000
"""Events read from the end of the log for the event rate (an hour at up to ~80/s)."""


def event_rate(rt: Services, minutes: int = 60) -> list[dict[str, Any]]:
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


def _relay(rt: Services) -> int | None:
    return RelayPosition(rt.store, "kafka").load() if rt.uses_kafka else None


def snapshot(rt: Services) -> dict[str, Any]:
    head = rt.store.max_position()
    relay = None
    if (position := _relay(rt)) is not None:
        relay = {"position": position, "lag": max(head - position, 0)}
    projections = [
        {"projection": p["projection"], "position": p["position"], "lag": p["lag"],
         "error": p["error"], "stale": p["stale"]}
        for p in rt.read_models.status(head)
    ]  # fmt: skip
    return {"head": head, "eventRate": event_rate(rt), "relay": relay,
            "projections": projections, "queues": rt.jobs.depths()}  # fmt: skip


def _waiting_since(rt: Services, position: int, now: datetime) -> float:
    """Seconds since the first event after ``position`` was appended (0 if there is none)."""
    following = rt.store.read(position, 1)
    if not following:
        return 0.0
    occurred = datetime.fromisoformat(following[0].document()["meta"]["occurred_at"])
    return max((now - occurred).total_seconds(), 0.0)


def shared_state(rt: Services) -> SharedState:
    """The progress of every role, for Prometheus (``infra.metrics.SharedState``)."""
    head = rt.store.max_position()
    now = datetime.now(UTC)
    projections = [
        (p["projection"], p["lag"], _waiting_since(rt, p["position"], now) if p["lag"] else 0.0)
        for p in rt.read_models.status(head)
    ]
    return SharedState(head, _relay(rt), projections, rt.jobs.depths())

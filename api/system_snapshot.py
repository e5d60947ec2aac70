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


def snapshot(rt: Services) -> dict[str, Any]:
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
            "projections": projections, "queues": rt.jobs.depths()}  # fmt: skip

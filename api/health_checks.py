"""Health probes of every dependency this process uses, and one cached report of them.

Shared by the health routes (the SPA polls one every 30 s, load balancers another) and
the front door, which shows a newcomer whether the server is healthy. The report is kept
a few seconds so that a burst of polls costs one round of probes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from kafka import KafkaAdminClient

from api.services import Services

CACHE_SECONDS = 5.0
_lock = threading.Lock()


def _kafka(rt: Services) -> None:
    admin = KafkaAdminClient(
        bootstrap_servers=rt.settings.kafka_bootstrap, request_timeout_ms=3000, client_id="health"
    )
    try:
        admin.list_topics()
    finally:
        admin.close()


def _redis(rt: Services) -> None:
    rt.redis.ping()


def _read_models(rt: Services) -> None:
    with rt.read_models.reads() as conn:
        conn.execute(sa.text("SELECT 1"))


def checks(rt: Services) -> dict[str, Callable[[], None]]:
    """The dependencies this process is configured to use, each with a probe."""
    probes: dict[str, Callable[[], None]] = {
        "eventStore": rt.store.check,
        "readModels": lambda: _read_models(rt),
        "blobStore": rt.blobs.check,
    }
    if rt.settings.redis_url:
        probes["redis"] = lambda: _redis(rt)
    if rt.settings.kafka_bootstrap:
        probes["kafka"] = lambda: _kafka(rt)
    return probes


def run_checks(rt: Services, max_age: float = CACHE_SECONDS) -> dict[str, Any]:
    """Probe every dependency, or return the last report if it is under ``max_age`` s."""
    with _lock:
        cached = rt.health_report
        if cached and time.monotonic() - cached[0] < max_age:
            return cached[1]
    results: dict[str, Any] = {}
    for name, probe in checks(rt).items():
        started = time.perf_counter()
        try:
            probe()
            results[name] = {"status": "UP"}
        except Exception as exc:
            results[name] = {"status": "DOWN", "error": type(exc).__name__}
        results[name]["latencyMs"] = round((time.perf_counter() - started) * 1000, 1)
    healthy = all(r["status"] == "UP" for r in results.values())
    report = {
        "status": "UP" if healthy else "DOWN",
        "mode": "distributed" if rt.settings.distributed else "embedded",
        "checks": results,
    }
    with _lock:
        rt.health_report = (time.monotonic(), report)
    return report

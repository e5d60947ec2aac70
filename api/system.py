"""System routes: health (the SPA polls it every 30 s) and Prometheus metrics."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from kafka import KafkaAdminClient
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import RuntimeDep
from api.envelope import ok
from api.services import Services
from api.system_snapshot import shared_state
from infra.metrics import shared_state_text

log = logging.getLogger(__name__)
router = APIRouter()
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
    with rt.read_models.engine.connect() as conn:
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


@router.get(
    "/api/v1/health", tags=["system"], responses={503: {"description": "A dependency is down"}}
)
@router.get("/health", include_in_schema=False)
def health(rt: RuntimeDep) -> JSONResponse:
    report = run_checks(rt)
    return JSONResponse(ok(report), status_code=200 if report["status"] == "UP" else 503)


@router.get("/health/live", include_in_schema=False)
def live() -> JSONResponse:
    """Liveness: the process answers. Dependencies are not probed, so an outage of
    PostgreSQL or Kafka never makes an orchestrator kill healthy API processes."""
    return JSONResponse(ok({"status": "UP"}))


@router.get("/health/ready", include_in_schema=False)
def ready(rt: RuntimeDep) -> JSONResponse:
    """Readiness: take traffic only while every dependency answers and the runtime is not
    stopping (its stop event set: projectors, policies and fan-out are winding down)."""
    report = run_checks(rt)
    if rt.stop_event.is_set():
        report = {**report, "status": "DOWN", "draining": True}
    return JSONResponse(ok(report), status_code=200 if report["status"] == "UP" else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(rt: RuntimeDep) -> Response:
    """This process's metrics, and the progress of every role read from shared state
    (relay, projections, job queues): the other roles serve no HTTP to scrape."""
    text = generate_latest()
    try:
        text += shared_state_text(shared_state(rt))
    except Exception as exc:  # a store that is down must not hide the process's metrics
        log.warning("metrics: shared state unavailable (%s)", type(exc).__name__)
    return Response(text, media_type=CONTENT_TYPE_LATEST)

"""System routes: health (the SPA polls it every 30 s) and Prometheus metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import RuntimeDep
from api.envelope import ok
from api.health_checks import run_checks
from api.system_snapshot import shared_state
from infra.metrics import shared_state_text

log = logging.getLogger(__name__)
router = APIRouter()


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

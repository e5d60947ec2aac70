"""System routes: health (the SPA polls it every 30 s) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import RuntimeDep
from api.envelope import ok
from api.health_checks import run_checks

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
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

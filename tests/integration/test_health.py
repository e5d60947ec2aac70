"""Liveness and readiness are different questions: a live process that is draining or has
lost a dependency must leave the load balancer's pool without being killed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.runtime import Runtime


def test_ready_while_serving_and_not_ready_while_draining_but_still_live(
    client: TestClient,
) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["data"]["status"] == "UP"
    rt.stop_event.set()  # the runtime begins to stop: its background threads wind down
    draining = client.get("/health/ready")
    assert draining.status_code == 503 and draining.json()["data"]["draining"] is True
    assert client.get("/health/live").status_code == 200

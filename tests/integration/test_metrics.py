"""Prometheus metrics record requests by route template."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    client.get("/api/v1/health")
    client.get("/api/v1/users/name")
    text = client.get("/metrics").text
    assert (
        'languagemate_http_request_seconds_count{method="GET",route="/api/v1/users/name",status="4xx"}'
        in text
    )
    assert 'route="/api/v1/health",status="2xx"' in text

"""One correlation id per request, shared by its response header, its events and its JSON
log lines; access lines name route templates, never paths that hold personal data."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from infra.logs import JsonFormatter


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("languagemate.access")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_a_request_its_events_and_its_log_lines_share_one_correlation_id(
    client: TestClient, json_lines: io.StringIO
) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    correlation = str(uuid4())
    before = rt.store.max_position()
    email = f"corr-{uuid4().hex[:8]}@example.com"
    response = client.post(
        "/api/v1/auth/dev-login",
        json={"email": email, "name": "Corr"},
        headers={"X-Correlation-Id": correlation},
    )
    assert response.status_code == 200
    assert response.headers["x-correlation-id"] == correlation
    events = [r.decode() for r in rt.store.read_all(before)]
    registered = [e for e in events if e.topic == "identity.AccountRegistered"]
    assert registered and all(str(e.meta.correlation_id) == correlation for e in registered)
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    mine = [line for line in lines if line.get("correlation_id") == correlation]
    assert mine and mine[0]["message"].startswith("POST /api/v1/auth/dev-login 200")
    assert email not in json_lines.getvalue()


def test_a_made_up_correlation_id_is_replaced_and_paths_are_logged_as_templates(
    client: TestClient, json_lines: io.StringIO
) -> None:
    secret_path_part = f"user-{uuid4().hex}"
    response = client.get(
        f"/api/v1/users/{secret_path_part}/profile?email=someone@example.com",
        headers={"X-Correlation-Id": "not-a-uuid"},
    )
    issued = response.headers["x-correlation-id"]
    assert issued != "not-a-uuid" and len(issued) == 36
    logged = json_lines.getvalue()
    assert "/api/v1/users/{user_id}/profile" in logged
    assert secret_path_part not in logged and "someone@example.com" not in logged

"""Prometheus metrics record requests by route template."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from app.runtime import Runtime
from devservices.settings import make_settings
from tests.support import settled, signed_in_learner


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    client.get("/api/v1/health")
    client.get("/api/v1/users/name")
    text = client.get("/metrics").text
    assert (
        'languagemate_http_request_seconds_count{method="GET",route="/api/v1/users/name",status="4xx"}'
        in text
    )
    assert 'route="/api/v1/health",status="2xx"' in text


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one metric family in a scrape, by their sorted labels."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == name
        for sample in family.samples
    }


def test_metrics_report_every_roles_progress_from_shared_state(client: TestClient) -> None:
    """Relay, projectors and workers serve no HTTP: the API's scrape reports their
    progress (log head, relay position, projection lag and staleness, job queues)."""
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    signed_in_learner(client, "Mina")
    head = settled(rt)
    text = client.get("/metrics").text
    assert _samples(text, "languagemate_log_head_position") == {(): head}
    lag = _samples(text, "languagemate_projection_lag_events")
    assert lag and set(lag.values()) == {0}
    assert set(_samples(text, "languagemate_projection_staleness_seconds").values()) == {0}
    queues = _samples(text, "languagemate_job_queue_depth")
    assert queues[(("queue", "speech"), ("state", "waiting"))] == 0
    relay = _samples(text, "languagemate_relay_saved_position")
    assert (relay[()] > 0) if rt.uses_kafka else (relay == {})


def _waits(client: TestClient, projection: str) -> dict[tuple[str, str], float]:
    """The read-your-writes wait histogram's count and sum for ``projection``, by outcome."""
    return {
        (sample.name.rpartition("_")[2], sample.labels["outcome"]): sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        if family.name == "languagemate_read_your_writes_wait_seconds"
        for sample in family.samples
        if sample.labels["projection"] == projection and "le" not in sample.labels
    }


def test_a_write_records_how_long_it_waited_for_its_read_model(client: TestClient) -> None:
    """What read-your-writes costs a write (and whether it came late) is on /metrics, per
    read model: the figure an inline projection would have to beat (README)."""
    user = signed_in_learner(client, "Mina")
    before = _waits(client, "profiles")
    saved = client.post("/api/v1/users/self-bio", json={"selfBio": "Hi"}, headers=user["headers"])
    assert saved.status_code == 200 and "X-Read-Your-Writes" not in saved.headers
    after = _waits(client, "profiles")
    assert after[("count", "applied")] == before.get(("count", "applied"), 0) + 1
    assert after[("sum", "applied")] > before.get(("sum", "applied"), 0)
    assert after.get(("count", "late"), 0) == before.get(("count", "late"), 0)
    # A read that asks for no write waits for nothing.
    assert client.get("/api/v1/users/profile", headers=user["headers"]).status_code == 200
    assert _waits(client, "profiles") == after


def test_a_projection_that_is_not_running_shows_its_lag_and_staleness(
    tmp_path: Path, runtimes: Callable[..., Runtime]
) -> None:
    # Projectors never started; requests do not wait for them.
    rt = runtimes(make_settings(tmp_path / "var", read_your_writes_timeout_seconds=0))
    with TestClient(create_app(rt)) as client:
        login = {"email": "mina@example.com", "name": "Mina"}
        assert client.post("/api/v1/auth/dev-login", json=login).status_code == 200
        text = client.get("/metrics").text
        assert _waits(client, "accounts")[("count", "late")] >= 1
    head = rt.store.max_position()
    lag = _samples(text, "languagemate_projection_lag_events")
    assert lag[(("projection", "accounts"),)] == head > 0
    staleness = _samples(text, "languagemate_projection_staleness_seconds")
    assert staleness[(("projection", "accounts"),)] > 0

"""The first slice over HTTP, in the embedded mode and through Kafka in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from app.runtime import Runtime
from devservices.settings import make_settings
from infra.settings import Settings


def _login(client: TestClient, email: str, name: str) -> dict:  # type: ignore[type-arg]
    response = client.post("/api/v1/auth/dev-login", json={"email": email, "name": name})
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def test_dev_login_then_name_reads_the_projection(client: TestClient) -> None:
    data = _login(client, "Mina@Example.com", "김민아")
    assert data["user"]["email"] == "mina@example.com" and data["isNewUser"] is True
    assert all(token.count(".") == 2 for token in (data["accessToken"], data["refreshToken"]))
    response = client.get(
        "/api/v1/users/name", headers={"Authorization": f"Bearer {data['accessToken']}"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["data"]["name"] == "김민아"
    assert body["name"] == "김민아"  # the callback pages read the top-level field


def test_second_login_is_the_same_user_and_not_new(client: TestClient) -> None:
    first = _login(client, "sam@example.com", "Sam")
    second = _login(client, " SAM@example.com ", "Other name")
    assert second["user"]["id"] == first["user"]["id"]
    assert second["isNewUser"] is False and second["user"]["name"] == "Sam"


def test_refresh_token_is_not_accepted_as_an_access_token(client: TestClient) -> None:
    data = _login(client, "lee@example.com", "Lee")
    response = client.get(
        "/api/v1/users/name", headers={"Authorization": f"Bearer {data['refreshToken']}"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_ERROR"


def test_missing_token_is_401_in_the_error_envelope(client: TestClient) -> None:
    body = client.get("/api/v1/users/name").json()
    assert body["success"] is False and body["code"] == "AUTH_REQUIRED"
    assert body["error"]["code"] == "AUTH_REQUIRED" and body["message"] == body["error"]["message"]


def test_malformed_dev_login_is_422_and_appends_nothing(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    head = rt.store.max_position()
    for body in (
        {"email": "not-an-email", "name": "x"},
        {"email": "a@b.co"},
        {"email": "a@b.co", "name": "x", "admin": True},
        [],
    ):
        response = client.post("/api/v1/auth/dev-login", json=body)
        assert response.status_code == 422
        assert response.json()["code"] == "VALIDATION_ERROR"
    assert rt.store.max_position() == head


def test_health_reports_each_dependency(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    report = response.json()["data"]
    assert report["status"] == "UP"
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    expected = {"eventStore", "readModels", "blobStore"}
    expected |= {"kafka"} if rt.settings.kafka_bootstrap else set()
    expected |= {"redis"} if rt.settings.redis_url else set()
    assert set(report["checks"]) == expected
    assert all(check["status"] == "UP" for check in report["checks"].values())


@pytest.mark.settings(cors_origins="http://localhost:4173")  # distributed: no default list
def test_cors_preflight_echoes_an_allowed_origin_with_credentials(client: TestClient) -> None:
    response = client.options(
        "/api/v1/users/name",
        headers={
            "Origin": "http://localhost:4173",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:4173"
    assert response.headers["access-control-allow-credentials"] == "true"
    denied = client.options(
        "/api/v1/users/name",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in denied.headers


def test_dev_login_is_404_unless_enabled(tmp_path: Path, runtimes: Callable[..., Runtime]) -> None:
    settings: Settings = make_settings(tmp_path / "var", dev_login=False)
    with TestClient(create_app(runtimes(settings))) as client:
        response = client.post("/api/v1/auth/dev-login", json={"email": "a@b.co", "name": "A"})
    assert response.status_code == 404
    assert response.json()["success"] is False


def test_health_is_503_when_a_dependency_is_down(
    tmp_path: Path, runtimes: Callable[..., Runtime]
) -> None:
    settings = make_settings(tmp_path / "var", redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(runtimes(settings))) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 503
    checks = response.json()["data"]["checks"]
    assert checks["redis"]["status"] == "DOWN" and checks["eventStore"]["status"] == "UP"

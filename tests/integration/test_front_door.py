"""``GET /``: version, mode, health and where to go, as a page for a browser and as JSON
otherwise; public, and cheap (it reuses the health report instead of probing per hit)."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import health_checks

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("client", ["embedded"], indirect=True)
def test_json_tells_version_mode_health_and_links(client: TestClient) -> None:
    response = client.get("/")  # anonymous
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "Accept" in response.headers["vary"]  # caches keep the page and the JSON apart
    door = response.json()["data"]
    assert door["version"] == version("languagemate")
    assert door["mode"] == "embedded"
    assert door["health"]["status"] == "UP"
    assert door["health"]["checks"] == {"eventStore": "UP", "readModels": "UP", "blobStore": "UP"}
    assert door["links"]["docs"] == "/docs" and door["links"]["asyncapi"] == "/asyncapi.json"
    assert door["links"]["dashboard"] == "/admin/dashboard"
    for name, path in door["links"].items():  # every link leads somewhere, signed in or not
        assert client.get(path).status_code == 200, (name, path)


def test_a_browser_gets_a_page_with_the_same_facts(client: TestClient) -> None:
    settings = client.app.state.runtime.settings  # type: ignore[attr-defined]
    mode = "distributed" if settings.distributed else "embedded"
    page = client.get("/", headers={"Accept": BROWSER})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"version {version('languagemate')}" in page.text and f"{mode} mode" in page.text
    assert "Health: UP" in page.text
    for path in ("/docs", "/admin/dashboard", "/asyncapi.json", "/openapi.json"):
        assert f"href='{path}'" in page.text


@pytest.mark.parametrize("client", ["embedded"], indirect=True)
def test_visits_reuse_the_health_report_instead_of_probing_each_time(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    probed: list[str] = []
    real = health_checks.checks

    def counted(rt: Any) -> Any:
        probed.append("all")
        return real(rt)

    monkeypatch.setattr(health_checks, "checks", counted)
    client.app.state.runtime.health_report = None  # type: ignore[attr-defined]
    for _ in range(5):
        assert client.get("/").status_code == 200
        assert client.get("/", headers={"Accept": BROWSER}).status_code == 200
    assert probed == ["all"]  # one probe of the dependencies for ten visits

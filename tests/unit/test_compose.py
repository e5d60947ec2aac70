"""The production topology in ``docker-compose.yml`` keeps the operational promises of
docs/reliability.md: every service is health-checked and restarted, the app containers get
only settings that exist, and each role's grace period covers its own drain."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.settings import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
ROLES = ("api", "relay", "projector", "policies", "worker")


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(COMPOSE.read_text())  # resolves the `<<:` merge keys
    return dict(document["services"])


def _seconds(duration: str) -> float:
    """A Compose duration such as ``1m30s`` or ``45s``, in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_every_service_is_health_checked_and_restarted(
    services: dict[str, dict[str, Any]],
) -> None:
    assert set(ROLES) <= set(services)
    for name, service in services.items():
        assert service.get("restart") in ("unless-stopped", "always"), name
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"


def test_the_roles_get_only_settings_that_exist(services: dict[str, dict[str, Any]]) -> None:
    """The app refuses unknown LANGUAGEMATE_* variables at start-up; this catches a typo
    before a deploy does."""
    fields = {f"LANGUAGEMATE_{name.upper()}" for name in Settings.model_fields}
    for role in ROLES:
        names = {k for k in services[role]["environment"] if k.startswith("LANGUAGEMATE_")}
        assert names and names <= fields, (role, names - fields)


def test_the_api_grace_period_outlasts_its_drain(services: dict[str, dict[str, Any]]) -> None:
    drain = Settings.model_fields["api_drain_seconds"].default
    grace = _seconds(services["api"].get("stop_grace_period", "10s"))
    assert grace > drain, "the orchestrator would SIGKILL requests the API is still draining"

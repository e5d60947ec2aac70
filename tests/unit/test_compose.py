"""The production topology in ``docker-compose.yml`` keeps the operational promises of
docs/reliability.md: every service is health-checked and restarted, the app containers get
only settings that exist, and each role's grace period covers its own drain; the trace
viewer, Prometheus and Grafana get the configuration committed beside it (docs/tracing.md).
The image those services run holds every package of the project, and every install of the
project takes the versions it was tested with."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from infra import metrics, tracing
from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY = COMPOSE.parent / "deploy"
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


def _mounted_files(service: dict[str, Any]) -> list[Path]:
    """The repository paths a service mounts (``./x:/y[:ro]``)."""
    sources = [v.split(":")[0] for v in service.get("volumes", []) if v.startswith("./")]
    return [COMPOSE.parent / source for source in sources]


def test_traces_go_to_jaeger_and_are_off_unless_asked(services: dict[str, dict[str, Any]]) -> None:
    jaeger = services["jaeger"]
    assert jaeger["image"].split(":-")[-1].startswith("jaegertracing/all-in-one:")
    assert jaeger["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    for role in ROLES:
        env = services[role]["environment"]
        assert env["OTEL_TRACES_EXPORTER"] == "${OTEL_TRACES_EXPORTER:-none}", role
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith("http://jaeger:4318}"), role
    # The endpoint alone would turn export on: the `none` default is what keeps it off.
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}
    assert tracing.exporting(environ)
    assert not tracing.exporting({**environ, "OTEL_TRACES_EXPORTER": "none"})
    assert tracing.exporting({**environ, "OTEL_TRACES_EXPORTER": "otlp"})


def test_prometheus_and_grafana_get_their_committed_configuration(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("prometheus", "grafana"):
        mounted = _mounted_files(services[name])
        assert mounted and all(path.exists() for path in mounted), (name, mounted)
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [job] = scrape["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["dns_sd_configs"][0]["names"] == ["api"] and job["dns_sd_configs"][0]["port"] == 8000
    datasources = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"


def _exported_names() -> set[str]:
    """Every metric family name the application exports."""
    names = {
        value._name for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)
    }
    shared = (metrics.LOG_HEAD, metrics.RELAY_SAVED, metrics.PROJECTION_LAG,
              metrics.PROJECTION_STALENESS, metrics.JOB_QUEUE_DEPTH)  # fmt: skip
    return names | set(shared)


def test_the_dashboard_plots_only_metrics_the_application_exports() -> None:
    """A renamed metric leaves a panel empty without any error: this catches it."""
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "languagemate.json").read_text())
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {"Request rate by route", "Request latency", "Projection lag", "Projection freshness",
            "Job queue depth", "Relay position"} <= titles  # fmt: skip
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {re.sub(r"_(total|count|bucket|sum)$", "", n)
            for e in exprs for n in re.findall(r"languagemate_[a-z_]+", e)}  # fmt: skip
    assert used and used <= _exported_names(), used - _exported_names()
    uids = {t["datasource"]["uid"] for panel in dashboard["panels"] for t in panel["targets"]}
    assert uids == {"languagemate-prometheus"}


def test_the_image_holds_every_package_the_project_installs() -> None:
    """The Dockerfile copies packages one by one (tests and benches stay out) from a build
    context that .dockerignore empties and lets them back into: a package added to
    pyproject.toml and left out of either makes an image that cannot import its own code, or
    a build that cannot find it (eventflow/, policies/, app/ and requirements/ were missing
    from both for a while)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    find = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {name.rstrip("*") for name in find}
    copied = set(re.findall(r"^COPY (\w+)/ \1/$", (ROOT / "Dockerfile").read_text(), re.M))
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore
    let_in = {line[1:] for line in ignore[ignore.index("*") :] if line.startswith("!")}
    assert copied <= let_in, f"not in the build context: {sorted(copied - let_in)}"


PROJECT_INSTALL = re.compile(r"pip install\b[^\n`]*?\s(?:-e\s+)?[\"']?\.(?:\[|[\"'\s`]|$)", re.M)
"""A pip install of the project itself (``.``, ``-e .``, ``'.[extras]'``)."""


def test_every_install_of_the_project_takes_the_pinned_versions() -> None:
    """A release upstream once changed which words Whisper heard (workers/speech.py): every
    install of the project that the repository shows (commands, documentation, the hints
    in error messages) passes requirements/constraints.txt, so none changes unseen."""
    files = [ROOT / "Dockerfile", ROOT / ".ci/run"]
    files += [p for p in ROOT.rglob("*.md") if ".venv" not in p.parts]
    files += [p for p in ROOT.rglob("*.py") if ".venv" not in p.parts and p != Path(__file__)]
    installs = [
        (path.relative_to(ROOT), match.group(0))
        for path in files
        for match in PROJECT_INSTALL.finditer(path.read_text())
    ]
    assert len(installs) >= 5, installs  # README, CI, the image and the hints, at least
    unpinned = [i for i in installs if "-c requirements/constraints.txt" not in i[1]]
    assert not unpinned, unpinned
    assert (ROOT / "requirements/constraints.txt").is_file()

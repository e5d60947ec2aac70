"""Real processes for end-to-end tests: start ``languagemate`` roles, wait for health, stop
them all (SIGINT, then kill) after the test."""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from devservices.settings import MODEL_CACHE, TEST_JWT_KEYS

CLI = [sys.executable, "-m", "app.cli"]
ROOT = Path(__file__).resolve().parents[2]
BATCH_WINDOWS = (
    "LANGUAGEMATE_RELAY_BATCH_WINDOW_SECONDS",
    "LANGUAGEMATE_PROJECTION_BATCH_WINDOW_SECONDS",
)


@functools.cache
def _compose_environment() -> dict[str, object]:
    """The roles' environment in docker-compose.yml, read once per test session."""
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return dict(document["services"]["relay"]["environment"])


def compose_default(name: str) -> str:
    """The value docker-compose.yml gives the roles for ``name`` when the operator sets
    none (its ``${NAME:-default}``), so a test topology runs with what a deployment does."""
    value = str(_compose_environment()[name])
    default = re.fullmatch(r"\$\{" + name + r":-(.*)\}", value)
    return default.group(1) if default else value


class Processes:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("LANGUAGEMATE_")}
        # No role loads the level test's models at start unless its test asks for it
        # (workers/warm_up.py): most tests take no level test, and the load would take
        # the cores, and memory, from what they measure.
        clean["LANGUAGEMATE_WARM_MODELS"] = "0"
        log = open(self.tmp_path / f"{name}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [*CLI, *args], env={**clean, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        self.running.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.running:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited during start-up"
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become healthy")


@pytest.fixture
def distributed_env(
    postgres_url: str, kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> dict[str, str]:
    """Settings for the distributed roles on this test's database and topic."""
    return {
        "LANGUAGEMATE_DATA_DIR": str(tmp_path / "var"),
        "LANGUAGEMATE_DATABASE_URL": postgres_url,
        "LANGUAGEMATE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "LANGUAGEMATE_KAFKA_TOPIC": unique_name("events"),
        "LANGUAGEMATE_KAFKA_GROUP_PREFIX": unique_name("group"),
        "LANGUAGEMATE_KAFKA_SESSION_TIMEOUT_MS": "2000",
        "LANGUAGEMATE_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "LANGUAGEMATE_JWT_KEYS": TEST_JWT_KEYS,
        "LANGUAGEMATE_IDENTITY_PEPPER": "pepper",
        "LANGUAGEMATE_DEV_LOGIN": "1",
        "LANGUAGEMATE_READ_YOUR_WRITES_TIMEOUT_SECONDS": "20",
        "LANGUAGEMATE_LLM_MODEL": "smollm2",
        "LANGUAGEMATE_MODEL_CACHE_DIR": str(MODEL_CACHE),
        # The batch windows of a deployment, so the fault, redelivery and read-your-writes
        # tests cover the relay and groups as they run there, not only without windows.
        **{name: compose_default(name) for name in BATCH_WINDOWS},
    }


def two_apis(
    processes: Processes, env: dict[str, str], *roles: str
) -> tuple[list[int], list[str], list[subprocess.Popen[bytes]]]:
    """Two ``api`` processes plus relay, ``projector all`` and the given extra roles, all
    healthy: (ports, base URLs, the two API processes)."""
    from devservices import free_port

    ports = [free_port(), free_port()]
    apis = [processes.start(["api", "--port", str(p)], env, f"api{p}") for p in ports]
    for role in (["relay"], ["projector", "all"], *([r] for r in roles)):
        processes.start(role, env, role[0])
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    for base, api in zip(bases, apis, strict=True):
        wait_healthy(base, api)
    return ports, bases, apis

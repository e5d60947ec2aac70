"""``languagemate serve`` loads the level test's models as it starts (workers/warm_up.py),
so the first learner's result does not wait for them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from devservices import free_port
from devservices.settings import MODEL_CACHE
from tests.e2e.conftest import Processes, wait_healthy
from workers import llm, speech

pytestmark = pytest.mark.skipif(
    not (speech.available() and llm.runtime_available()),
    reason="the speech or llm extra is not installed",
)
GAUGE = "languagemate_level_test_models_warm_seconds"


def _serve(processes: Processes, tmp_path: Path) -> str:
    port = free_port()
    env = {
        "LANGUAGEMATE_DATA_DIR": str(tmp_path / "var"),
        "LANGUAGEMATE_PORT": str(port),
        "LANGUAGEMATE_LLM_MODEL": "smollm2",
        "LANGUAGEMATE_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "LANGUAGEMATE_WARM_MODELS": "1",
    }
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, processes.start(["serve"], env, "serve"))
    return base


def _warm_seconds(base: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith(f"{GAUGE} "):
            return float(line.split()[1])
    raise AssertionError(f"{GAUGE} is not exported")


def test_serve_loads_the_level_test_models_before_anyone_takes_the_test(
    processes: Processes, tmp_path: Path
) -> None:
    base = _serve(processes, tmp_path)
    deadline = time.monotonic() + 180
    while (seconds := _warm_seconds(base)) == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert seconds > 0, "the models were not loaded at start"
    assert "level-test models loaded" in processes.log("serve")

"""A burst past the admission bound against a real ``languagemate serve`` (issue 23): each
write is either stored and visible or refused with 503 ``OVERLOADED`` and changes nothing,
and health answers throughout. No time is asserted; deadlines only keep a broken server
from hanging the test."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from devservices import free_port
from eventflow.store import EVENTS_TABLE
from tests.e2e.conftest import Processes, wait_healthy

BURST = 40


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """One process that serves a single request at a time and queues none."""
    processes = Processes(tmp_path)
    port = free_port()
    env = {
        "LANGUAGEMATE_DATA_DIR": str(tmp_path / "var"),
        "LANGUAGEMATE_PORT": str(port),
        "LANGUAGEMATE_DEV_LOGIN": "1",
        "LANGUAGEMATE_LLM_MODEL": "off",
        "LANGUAGEMATE_ADMISSION_MAX_IN_FLIGHT": "1",
        "LANGUAGEMATE_ADMISSION_MAX_QUEUED": "0",
    }
    proc = processes.start(["serve"], env, "serve")
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        yield f"http://127.0.0.1:{port}", tmp_path / "var" / "events.sqlite3"
    finally:
        processes.stop_all()


def _registered(store: Path) -> int:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        query = f"SELECT count(*) FROM {EVENTS_TABLE} WHERE topic = 'identity.AccountRegistered'"
        (count,) = db.execute(query).fetchone()
    return int(count)


def _sign_in(base: str, name: str) -> httpx.Response:
    return httpx.post(f"{base}/api/v1/auth/dev-login", timeout=60,
                      json={"email": f"{name}@example.com", "name": name})  # fmt: skip


def test_a_burst_past_the_bound_is_served_or_shed_and_nothing_shed_is_stored(
    server: tuple[str, Path],
) -> None:
    base, store = server
    before = _registered(store)
    names = [f"burst{i}" for i in range(BURST)]
    with ThreadPoolExecutor(BURST + 1) as pool:
        signing_in = [pool.submit(_sign_in, base, name) for name in names]
        ready = pool.submit(httpx.get, f"{base}/health/ready", timeout=60).result()
        answers = [future.result() for future in signing_in]

    served = [n for n, a in zip(names, answers, strict=True) if a.status_code == 200]
    shed = [(n, a) for n, a in zip(names, answers, strict=True) if a.status_code != 200]
    assert ready.status_code == 200, ready.text
    assert served and shed, "one at a time, forty at once: some must be served, some shed"
    for _, answer in shed:
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "OVERLOADED"
        assert answer.headers["retry-after"] == "1"
    assert _registered(store) - before == len(served)  # the shed ones changed nothing

    # After the burst: who was served exists, who was shed is new (and is served now).
    for name in served:
        again = _sign_in(base, name)
        assert again.json()["data"]["isNewUser"] is False, again.text
    for name, _ in shed:
        retried = _sign_in(base, name)
        assert retried.status_code == 200, retried.text
        assert retried.json()["data"]["isNewUser"] is True

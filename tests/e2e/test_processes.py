"""The real commands as separate processes: ``serve`` on a fresh data directory, the
distributed roles against PostgreSQL and the Kafka-protocol broker, and a relay killed with
SIGKILL in mid-stream."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg
from kafka import KafkaConsumer

from commands.base import CommandBus, CommandContext
from devservices import free_port
from devservices.settings import TEST_JWT_KEYS, make_settings
from eventflow.relay import RelayPosition
from eventflow.store import open_event_store
from tests.e2e.conftest import CLI, ROOT, Processes, wait_healthy
from tests.support import increment


def journey(base: str) -> dict[str, Any]:
    login = httpx.post(
        f"{base}/api/v1/auth/dev-login",
        json={"email": "e2e@example.com", "name": "이투이"},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    data = login.json()["data"]
    name = httpx.get(
        f"{base}/api/v1/users/name",
        headers={"Authorization": f"Bearer {data['accessToken']}"},
        timeout=10,
    )
    assert name.status_code == 200, name.text
    assert name.json()["name"] == "이투이"
    return data  # type: ignore[no-any-return]


def test_serve_runs_the_embedded_mode_on_a_fresh_directory(
    processes: Processes, tmp_path: Path
) -> None:
    port = free_port()
    env = {"LANGUAGEMATE_DATA_DIR": str(tmp_path / "var"), "LANGUAGEMATE_DEV_LOGIN": "1"}
    proc = processes.start(["serve", "--port", str(port)], env, "serve")
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, proc)
    journey(base)
    assert (tmp_path / "var" / "events.sqlite3").exists()
    # SIGTERM, as an orchestrator stops it: the server drains, the runtime closes (workers,
    # projector threads) and the process exits 0 rather than dying of the signal.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0, processes.log("serve")


def test_unknown_setting_fails_start_up_naming_it(tmp_path: Path) -> None:
    env = {**os.environ, "LANGUAGEMATE_DATA_DIR": str(tmp_path), "LANGUAGEMATE_DATABSE_URL": "x"}
    result = subprocess.run(
        [*CLI, "projections", "status"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert b"LANGUAGEMATE_DATABSE_URL" in result.stderr
    env = {**os.environ, "LANGUAGEMATE_DATA_DIR": str(tmp_path), "LANGUAGEMATE_PORT": "eighty"}
    result = subprocess.run(
        [*CLI, "projections", "status"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and b"LANGUAGEMATE_PORT" in result.stderr


def test_distributed_roles_carry_the_slice_through_kafka(
    distributed_env: dict[str, str], processes: Processes
) -> None:
    port = free_port()
    env = distributed_env
    api = processes.start(["api", "--port", str(port)], env, "api")
    processes.start(["relay"], env, "relay")
    processes.start(["projector", "all"], env, "projector")
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, api)
    data = journey(base)
    status = subprocess.run(
        [*CLI, "projections", "status"],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert b'"projection": "accounts"' in status.stdout
    assert data["user"]["name"] == "이투이"
    # Every role's connections carry its name, for pg_stat_activity and the server's logs.
    with psycopg.connect(env["LANGUAGEMATE_DATABASE_URL"]) as conn:
        names = {row[0] for row in conn.execute(
            "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
        )}  # fmt: skip
    assert {"languagemate-api", "languagemate-relay", "languagemate-projector"} <= names


def _consume_positions(bootstrap: str, topic: str, expected: int, timeout: float = 60) -> list[int]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"check-{uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
    )
    positions: list[int] = []
    deadline = time.monotonic() + timeout
    try:
        while len(set(positions)) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    headers = dict(record.headers)
                    if "lm-tick" not in headers:  # watermarks are not events
                        positions.append(int(headers["position"]))
    finally:
        consumer.close()
    return positions


def test_relay_killed_mid_stream_loses_nothing_on_restart(
    postgres_url: str,
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    processes: Processes,
) -> None:
    topic = unique_name("events")
    settings = make_settings(
        tmp_path / "var",
        database_url=postgres_url,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic=topic,
    )
    store = open_event_store(settings)
    bus = CommandBus(store)
    for _ in range(300):
        increment(bus, CommandContext(), uuid4(), 1, times=10)
    head = store.max_position()
    env = {
        "LANGUAGEMATE_DATA_DIR": str(tmp_path / "var"),
        "LANGUAGEMATE_DATABASE_URL": postgres_url,
        "LANGUAGEMATE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "LANGUAGEMATE_KAFKA_TOPIC": topic,
        "LANGUAGEMATE_RELAY_BATCH_SIZE": "100",
        "LANGUAGEMATE_JWT_KEYS": TEST_JWT_KEYS,
        "LANGUAGEMATE_IDENTITY_PEPPER": "pepper",
    }
    position = RelayPosition(store, "kafka")
    relay = processes.start(["relay"], env, "relay-1")
    deadline = time.monotonic() + 60
    while position.load() < head // 3:
        assert time.monotonic() < deadline and relay.poll() is None, processes.log("relay-1")
        time.sleep(0.005)
    relay.kill()  # SIGKILL: no chance to flush or save anything
    relay.wait(10)
    killed_at = position.load()
    assert killed_at < head, "the relay finished before it could be killed"
    for _ in range(50):  # more events arrive while the relay is down
        increment(bus, CommandContext(), uuid4(), 1)
    head = store.max_position()
    processes.start(["relay"], env, "relay-2")
    deadline = time.monotonic() + 60
    while position.load() < head:
        assert time.monotonic() < deadline, processes.log("relay-2")
        time.sleep(0.05)
    stored = [e.position for e in store.read_all()]
    published = _consume_positions(kafka_bootstrap, topic, len(stored))
    assert set(published) == set(stored)  # nothing lost; duplicates are allowed
    store.close()

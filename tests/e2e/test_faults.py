"""Faults under load: the distributed topology keeps every accepted command exactly once and
its read models equal to a from-scratch rebuild through crashes of each role, a broker that
loses its data a frozen Redis and PostgreSQL refusing connections, and recovers without an operator.

A load thread keeps signing up users and setting their native language through both API
processes (failing over like a load balancer when one does not answer). Faults come one
after another; after each, a canary sign-up must become readable again, and the time that
takes is recorded (printed with ``-s``; docs/reliability.md quotes it).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from infra.runtime import Runtime
from tests import services
from tests.chaos import RefusingProxy
from tests.conftest import make_settings
from tests.e2e.conftest import Processes, two_apis, wait_healthy
from tests.services import RedisServer, Tansu
from tests.support import read_model_rows, settled

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]


@dataclass
class Load:
    """Sign-ups and one onboarding command each, against whichever API answers."""

    bases: list[str]
    accepted: dict[str, str] = field(default_factory=dict)
    """user id -> the email whose registration was answered 200."""
    onboarded: set[str] = field(default_factory=set)
    server_errors: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    counter: Iterator[int] = field(default_factory=itertools.count)

    def post(self, client: httpx.Client, path: str, body: Any, **kw: Any) -> httpx.Response:
        last: Exception | None = None
        for base in self.bases:
            try:
                response = client.post(base + path, json=body, **kw)
            except httpx.TransportError as exc:  # this API is down: try the other one
                last = exc
                continue
            if response.status_code >= 500:
                self.server_errors.append((time.monotonic(), response.status_code))
            return response
        raise last or RuntimeError("no API answered")

    def one(self, client: httpx.Client, tag: str = "load") -> str | None:
        email = f"{tag}{next(self.counter)}-{os.getpid()}@example.com"
        try:
            login = self.post(client, "/api/v1/auth/dev-login", {"email": email, "name": "Load"})
        except (httpx.TransportError, RuntimeError):
            return None
        if login.status_code != 200:
            return None
        data = login.json()["data"]
        user_id = data["user"]["id"]
        self.accepted[user_id] = email
        headers = {"Authorization": f"Bearer {data['accessToken']}"}
        try:
            native = self.post(
                client,
                "/api/v1/onboarding/language/native-language",
                {"languageId": 1},
                headers=headers,
            )
        except (httpx.TransportError, RuntimeError):
            return user_id
        if native.status_code == 200:
            self.onboarded.add(user_id)
        return user_id

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                self.one(client)
                time.sleep(0.05)


def _readable(load: Load, client: httpx.Client) -> bool:
    """A canary sign-up and onboarding step, read back from the read models."""
    user_id = load.one(client, tag="canary")
    if user_id is None or user_id not in load.onboarded:
        return False
    try:
        token = load.post(
            client, "/api/v1/auth/dev-login", {"email": load.accepted[user_id], "name": "Load"}
        )
    except (httpx.TransportError, RuntimeError):
        return False
    if token.status_code != 200:
        return False
    headers = {"Authorization": f"Bearer {token.json()['data']['accessToken']}"}
    for base in load.bases:
        try:
            info = client.get(base + "/api/v1/users/language-info", headers=headers)
        except httpx.TransportError:
            continue
        native = info.json().get("data", {}).get("nativeLanguage") if info.is_success else None
        return bool(native)
    return False


def _recovery_seconds(load: Load, since: float, timeout: float = 90) -> float:
    with httpx.Client(timeout=30) as client:
        while not _readable(load, client):
            assert time.monotonic() - since < timeout, "the system did not recover"
            time.sleep(0.5)
    return round(time.monotonic() - since, 1)


@dataclass
class Chaos:
    env: dict[str, str]
    direct_database_url: str
    broker: Tansu
    redis: RedisServer
    postgres: RefusingProxy


@pytest.fixture
def chaos(distributed_env: dict[str, str], tmp_path: Path) -> Iterator[Chaos]:
    if not RedisServer.available():
        pytest.skip("redis-server binary missing: pausing Redis needs a private server")
    direct = urlsplit(distributed_env["LANGUAGEMATE_DATABASE_URL"])
    proxy = RefusingProxy(direct.hostname or "127.0.0.1", direct.port or 5432).start()
    proxied = direct._replace(netloc=f"{direct.username}@127.0.0.1:{proxy.port}")
    with Tansu(log_path=tmp_path / "tansu.log") as broker:
        redis = RedisServer().start()
        try:
            env = {
                **distributed_env,
                "LANGUAGEMATE_DATABASE_URL": urlunsplit(proxied),
                "LANGUAGEMATE_KAFKA_BOOTSTRAP": broker.bootstrap,
                "LANGUAGEMATE_REDIS_URL": redis.url(),
                # Five processes, restarted ones overlapping their predecessors' sessions:
                # small pools keep them inside PostgreSQL's 100 connections.
                "LANGUAGEMATE_DB_POOL_SIZE": "4",
            }
            yield Chaos(env, distributed_env["LANGUAGEMATE_DATABASE_URL"], broker, redis, proxy)
        finally:
            redis.stop()
            proxy.stop()


def test_faults_under_load_lose_nothing_and_heal_themselves(
    chaos: Chaos, processes: Processes, tmp_path: Path
) -> None:
    env, broker, redis = chaos.env, chaos.broker, chaos.redis
    ports, bases, apis = two_apis(processes, env, "policies")
    relay = next(p for p in processes.running if p.args[-1] == "relay")  # type: ignore[index]
    projector = next(p for p in processes.running if p.args[-1] == "all")  # type: ignore[index]
    load = Load(bases)
    loader = threading.Thread(target=load.run, daemon=True)
    loader.start()
    recovery: dict[str, float] = {}
    outages: list[tuple[float, float]] = []

    def fault(name: str, inject: Callable[[], None]) -> None:
        time.sleep(2)  # some load before each fault
        started = time.monotonic()
        inject()
        recovery[name] = _recovery_seconds(load, started)
        outages.append((started, time.monotonic()))

    def kill_api() -> None:
        apis[0].kill()
        apis[0].wait()
        time.sleep(1)
        apis[0] = processes.start(["api", "--port", str(ports[0])], env, f"api{ports[0]}-again")
        wait_healthy(bases[0], apis[0])

    def restart(proc: subprocess.Popen[bytes], args: list[str], name: str) -> None:
        proc.kill()
        proc.wait()
        processes.start(args, env, name)

    def pause_redis() -> None:
        assert redis.proc is not None
        redis.proc.send_signal(signal.SIGSTOP)
        time.sleep(3)
        redis.proc.send_signal(signal.SIGCONT)

    try:
        fault("api killed (SIGKILL) and restarted", kill_api)
        fault("relay killed and restarted", lambda: restart(relay, ["relay"], "relay-again"))
        fault(
            "projector killed and restarted",
            lambda: restart(projector, ["projector", "all"], "projector-again"),
        )
        fault("broker restarted, all its data lost", broker.restart)
        fault("redis frozen for 3 s", pause_redis)
        fault("postgres refusing connections for 3 s", lambda: chaos.postgres.refuse(3))
    finally:
        load.stop.set()
        loader.join(timeout=60)
    print(json.dumps({"recovery_seconds": recovery, "accepted": len(load.accepted)}))
    _check_store_and_read_models({**env, "LANGUAGEMATE_DATABASE_URL": chaos.direct_database_url},
                                 load, tmp_path)  # fmt: skip
    # A dependency away is a 503 (retry), never a 500, and only until the system recovered.
    assert {status for _, status in load.server_errors} <= {503}, load.server_errors
    stray = [t for t, _ in load.server_errors if not any(a <= t <= b for a, b in outages)]
    assert not stray, f"{len(stray)} 5xx outside any outage"


def _check_store_and_read_models(env: dict[str, str], load: Load, tmp_path: Path) -> None:
    """Every accepted command once in the store; every read model equal to a rebuild."""
    settings = make_settings(
        tmp_path / "check",
        database_url=env["LANGUAGEMATE_DATABASE_URL"],
        kafka_bootstrap=env["LANGUAGEMATE_KAFKA_BOOTSTRAP"],
        kafka_topic=env["LANGUAGEMATE_KAFKA_TOPIC"],
        identity_pepper=env["LANGUAGEMATE_IDENTITY_PEPPER"],
    )
    live = Runtime.build(settings, policies=[])
    try:
        settled(live)
        counts: dict[tuple[str, str], int] = {}
        for record in live.store.read_all(0):
            if record.topic in ("identity.AccountRegistered", "profiles.NativeLanguageSet"):
                key = (record.topic, str(record.aggregate_id))
                counts[key] = counts.get(key, 0) + 1
        registered = {a for (t, a), n in counts.items() if t == "identity.AccountRegistered"}
        assert set(load.accepted) <= registered, "an accepted sign-up is missing from the store"
        assert all(n == 1 for n in counts.values()), "a command was stored twice"
        live_rows = read_model_rows(live)
    finally:
        live.close()
    admin = services.postgres_admin_url()
    name = f"lm_t_rebuild_{os.getpid()}_{int(time.time())}"
    url = services.create_database(admin, name)
    try:
        fresh = Runtime.build(settings.model_copy(update={"readmodel_database_url": url}),
                              policies=[])  # fmt: skip
        try:
            fresh.start_projectors(kafka=False)
            settled(fresh)
            rebuilt = read_model_rows(fresh)
            differing = {
                table: (
                    sorted(set(rows) - set(rebuilt[table]), key=repr)[:3],
                    sorted(set(rebuilt[table]) - set(rows), key=repr)[:3],
                )
                for table, rows in live_rows.items()
                if rows != rebuilt.get(table)
            }
            assert not differing, f"live (-) and rebuilt (+) rows differ: {differing}"
        finally:
            fresh.close()
    finally:
        services.drop_database(admin, name)

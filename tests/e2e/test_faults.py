"""Faults and restarts under load: the distributed topology keeps every accepted command
exactly once, every background job's result once, and its read models equal to a
from-scratch rebuild through crashes of each role, a broker that loses its data, a frozen
Redis and PostgreSQL refusing connections, and recovers without an operator; and each role
stopped with SIGTERM finishes or hands back its in-flight work and exits 0.

A load thread keeps signing up users, setting their native language and writing a bio (which
sends a profile-embedding job to the workers) through both API processes, failing over like
a load balancer when one does not answer. Faults come one after another; after each, a
canary sign-up must become readable again (for the worker: every bio written before the
fault must be embedded), and the time that takes is recorded (printed with ``-s``;
docs/reliability.md quotes it).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis as redis_client
import sqlalchemy as sa
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import devservices as services
from api.stomp import Frame
from app.runtime import Runtime
from devservices import RedisServer, Tansu
from devservices.settings import make_settings
from domain.profile_embeddings import ProfileEmbedded
from eventflow.schema import OPEN, parked_table
from eventflow.store import EventStore, open_event_store
from tests.chaos import RefusingProxy
from tests.e2e.conftest import Processes, two_apis, wait_healthy
from tests.support import held_job_args, held_jobs, read_model_rows, settled, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]


@dataclass
class Load:
    """Sign-ups and one onboarding command each, against whichever API answers."""

    bases: list[str]
    accepted: dict[str, str] = field(default_factory=dict)
    """user id -> the email whose registration was answered 200."""
    onboarded: set[str] = field(default_factory=set)
    bios: set[str] = field(default_factory=set)
    """Users whose bio was answered 200: each must end with exactly one embedding."""
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
        number = next(self.counter)
        email = f"{tag}{number}-{os.getpid()}@example.com"
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
        if native.status_code != 200:
            return user_id
        self.onboarded.add(user_id)
        bio = {"selfBio": f"Learner {number}: I cook, hike and sing in a choir."}
        try:
            written = self.post(client, "/api/v1/users/self-bio", bio, headers=headers)
        except (httpx.TransportError, RuntimeError):
            return user_id
        if written.status_code == 200:
            self.bios.add(user_id)
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


def _recovery_seconds(
    load: Load, since: float, recovered: Callable[[], bool] | None = None, timeout: float = 90
) -> float:
    with httpx.Client(timeout=30) as client:
        while not (recovered() if recovered else _readable(load, client)):
            assert time.monotonic() - since < timeout, "the system did not recover"
            time.sleep(0.5)
    return round(time.monotonic() - since, 1)


class Embeddings:
    """``ProfileEmbedded`` events per user, read on from the event store as they arrive."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.after = 0
        self.per_user: Counter[str] = Counter()

    def refresh(self) -> Counter[str]:
        for record in self.store.read_all(self.after):
            self.after = record.position
            if record.topic == ProfileEmbedded.topic:
                event = record.decode()
                assert isinstance(event, ProfileEmbedded)
                self.per_user[event.user_id] += 1
        return self.per_user

    def done(self, users: set[str]) -> bool:
        return users <= set(self.refresh())


@dataclass
class Chaos:
    env: dict[str, str]
    direct_database_url: str
    broker: Tansu
    redis: RedisServer
    postgres: RefusingProxy
    embeddings: Embeddings


@pytest.fixture
def chaos(distributed_env: dict[str, str], tmp_path: Path) -> Iterator[Chaos]:
    if not RedisServer.available():
        pytest.skip("redis-server binary missing: pausing Redis needs a private server")
    direct_url = distributed_env["LANGUAGEMATE_DATABASE_URL"]
    direct = urlsplit(direct_url)
    proxy = RefusingProxy(direct.hostname or "127.0.0.1", direct.port or 5432).start()
    proxied = direct._replace(netloc=f"{direct.username}@127.0.0.1:{proxy.port}")
    store = open_event_store(make_settings(tmp_path / "reader", database_url=direct_url))
    with Tansu(log_path=tmp_path / "tansu.log") as broker:
        redis = RedisServer().start()
        try:
            env = {
                **distributed_env,
                "LANGUAGEMATE_DATABASE_URL": urlunsplit(proxied),
                "LANGUAGEMATE_KAFKA_BOOTSTRAP": broker.bootstrap,
                "LANGUAGEMATE_REDIS_URL": redis.url(),
                # Six processes of at most 5 x 3 connections, restarted ones overlapping
                # their predecessors' sessions: inside PostgreSQL's 100 connections.
                "LANGUAGEMATE_DB_POOL_SIZE": "3",
                # A killed worker's jobs go back to the queue 3 s after its last heartbeat.
                "LANGUAGEMATE_JOB_HEARTBEAT_SECONDS": "3",
            }
            yield Chaos(env, direct_url, broker, redis, proxy, Embeddings(store))
        finally:
            redis.stop()
            proxy.stop()
            store.close()


ROLE_ARGS = {"relay": ["relay"], "projector": ["projector", "all"], "policies": ["policies"],
             "worker": ["worker"]}  # fmt: skip


@dataclass
class Topology:
    """Two APIs (``api0``, ``api1``) and one process of every other role, by name."""

    processes: Processes
    env: dict[str, str]
    ports: list[int]
    bases: list[str]
    procs: dict[str, subprocess.Popen[bytes]]
    starts: Iterator[int] = field(default_factory=itertools.count)

    @classmethod
    def start_all(cls, processes: Processes, env: dict[str, str]) -> Topology:
        ports, bases, _ = two_apis(processes, env, "policies", "worker")
        # two_apis starts the APIs, then the relay and the projector, then the given roles.
        names = ["api0", "api1", "relay", "projector", "policies", "worker"]
        procs = dict(zip(names, processes.running, strict=True))
        return cls(processes, env, ports, bases, procs)

    def start(self, role: str) -> None:
        api = role.startswith("api")
        args = ["api", "--port", str(self.ports[int(role[3:])])] if api else ROLE_ARGS[role]
        self.procs[role] = self.processes.start(args, self.env, f"{role}-{next(self.starts)}")
        if api:
            wait_healthy(self.bases[int(role[3:])], self.procs[role])

    def kill(self, role: str) -> None:
        """SIGKILL (nothing runs on the way out), then a fresh process."""
        self.procs[role].kill()
        self.procs[role].wait()
        time.sleep(1)
        self.start(role)

    def terminate(self, role: str) -> tuple[int, float]:
        """SIGTERM, as an orchestrator stops a container: (exit code, seconds to exit)."""
        signalled = time.monotonic()
        self.procs[role].terminate()
        code = self.procs[role].wait(90)
        return code, round(time.monotonic() - signalled, 1)


@contextmanager
def running(load: Load, clients: int = 3) -> Iterator[None]:
    """``clients`` threads of :meth:`Load.run` until the block ends."""
    loaders = [threading.Thread(target=load.run, daemon=True) for _ in range(clients)]
    for loader in loaders:
        loader.start()
    try:
        yield
    finally:
        load.stop.set()
        for loader in loaders:
            loader.join(timeout=60)


def test_faults_under_load_lose_nothing_and_heal_themselves(
    chaos: Chaos, processes: Processes, tmp_path: Path
) -> None:
    env, broker, redis = chaos.env, chaos.broker, chaos.redis
    topology = Topology.start_all(processes, env)
    load = Load(topology.bases)
    recovery: dict[str, float] = {}
    outages: list[tuple[float, float]] = []

    def fault(
        name: str, inject: Callable[[], None], recovered: Callable[[], bool] | None = None
    ) -> None:
        time.sleep(2)  # some load before each fault
        started = time.monotonic()
        inject()
        recovery[name] = _recovery_seconds(load, started, recovered)
        outages.append((started, time.monotonic()))

    def pause_redis() -> None:
        assert redis.proc is not None
        redis.proc.send_signal(signal.SIGSTOP)
        time.sleep(3)
        redis.proc.send_signal(signal.SIGCONT)

    jobs = redis_client.Redis.from_url(redis.url())
    bios_before_worker_fault: set[str] = set()

    def kill_worker_mid_job() -> None:
        held = wait_for(lambda: held_job_args(jobs, "embeddings"), "a worker holding a job", 60)
        # Recovered once the jobs it held (run again elsewhere) and every earlier one are done;
        # a job's first argument is the user (then the profile version that sent it).
        bios_before_worker_fault.update(load.bios | {args[0] for args in held})
        topology.kill("worker")

    with running(load):
        fault("api killed (SIGKILL) and restarted", lambda: topology.kill("api0"))
        fault("relay killed and restarted", lambda: topology.kill("relay"))
        fault("projector killed and restarted", lambda: topology.kill("projector"))
        fault(
            "worker killed mid-job and restarted",
            kill_worker_mid_job,
            lambda: chaos.embeddings.done(bios_before_worker_fault),
        )
        fault("broker restarted, all its data lost", broker.restart)
        fault("redis frozen for 3 s", pause_redis)
        fault("postgres refusing connections for 3 s", lambda: chaos.postgres.refuse(3))
    print(json.dumps({"recovery_seconds": recovery, "accepted": len(load.accepted)}))
    _check_everything(chaos, load, processes, tmp_path)
    # A dependency away is a 503 (retry), never a 500, and only until the system recovered.
    assert {status for _, status in load.server_errors} <= {503}, load.server_errors
    stray = [t for t, _ in load.server_errors if not any(a <= t <= b for a, b in outages)]
    assert not stray, f"{len(stray)} 5xx outside any outage"


def test_every_role_stopped_under_load_finishes_its_work_and_exits_cleanly(
    chaos: Chaos, processes: Processes, tmp_path: Path
) -> None:
    topology = Topology.start_all(processes, chaos.env)
    load = Load(topology.bases)
    jobs = redis_client.Redis.from_url(chaos.redis.url())
    stop_seconds: dict[str, float] = {}
    with running(load):
        time.sleep(2)
        stop_seconds["api"] = _api_drains_a_request_in_flight(topology)
        for role in ("relay", "projector", "policies", "worker"):
            time.sleep(2)
            if role == "worker":  # stop it while it holds jobs
                wait_for(lambda: held_jobs(jobs, "embeddings"), "a worker holding a job", 60)
            code, stop_seconds[role] = topology.terminate(role)
            assert code == 0, f"{role} exited {code} on SIGTERM"
            if role == "worker":  # every job it held was finished or handed back
                assert held_jobs(jobs, "embeddings") == 0
            topology.start(role)
    print(json.dumps({"stop_seconds": stop_seconds, "accepted": len(load.accepted)}))
    _check_everything(chaos, load, processes, tmp_path)
    assert not load.server_errors, "a graceful stop must not cost a client a 5xx"


def _api_drains_a_request_in_flight(topology: Topology) -> float:
    """SIGTERM an API while it answers a request that waits for the read models (the relay
    is paused, so the request waits): the request still gets its answer, after the signal,
    an open STOMP socket is closed with 1012 (service restart: reconnect elsewhere), and
    then the process exits 0. Returns the seconds from SIGTERM to exit."""
    api, relay = topology.procs["api0"], topology.procs["relay"]
    answer: dict[str, Any] = {}
    with httpx.Client(timeout=60) as client:
        login = client.post(topology.bases[1] + "/api/v1/auth/dev-login",
                            json={"email": "drain@example.com", "name": "Drain"})  # fmt: skip
        token = login.json()["data"]["accessToken"]
        headers = {"Authorization": f"Bearer {token}"}
        socket = connect(topology.bases[0].replace("http", "ws") + "/ws/chat")
        socket.send(Frame("CONNECT", {"accept-version": "1.2", **headers}).encode().decode())
        assert str(socket.recv(timeout=20)).startswith("CONNECTED")

        def write_bio() -> None:
            response = client.post(topology.bases[0] + "/api/v1/users/self-bio",
                                   json={"selfBio": "In flight"}, headers=headers)  # fmt: skip
            answer.update(status=response.status_code, at=time.monotonic())

        relay.send_signal(signal.SIGSTOP)
        try:
            request = threading.Thread(target=write_bio)
            request.start()
            time.sleep(1.5)  # the request now waits for its event to reach the read model
            signalled = time.monotonic()
            api.terminate()
            time.sleep(1.5)
        finally:
            relay.send_signal(signal.SIGCONT)
        request.join(60)
        code = api.wait(60)
    stopped = round(time.monotonic() - signalled, 1)
    with pytest.raises(ConnectionClosed) as closed:  # no heart-beats were asked for
        socket.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    assert answer.get("status") == 200, answer
    assert answer["at"] > signalled + 1, "the request was not in flight at SIGTERM"
    assert code == 0, f"the API exited {code} on SIGTERM"
    topology.start("api0")
    return stopped


def _check_everything(chaos: Chaos, load: Load, processes: Processes, tmp_path: Path) -> None:
    """Every accepted bio embedded exactly once; then the store and read-model checks."""
    wait_for(lambda: chaos.embeddings.done(load.bios), "every bio embedded", timeout=180)
    repeated = {user for user, n in chaos.embeddings.refresh().items() if n > 1}
    assert not repeated, f"{len(repeated)} profiles embedded more than once"
    env = {**chaos.env, "LANGUAGEMATE_DATABASE_URL": chaos.direct_database_url}
    _check_store_and_read_models(env, load, tmp_path, processes.stop_all)


def _check_store_and_read_models(
    env: dict[str, str], load: Load, tmp_path: Path, stop_roles: Callable[[], None]
) -> None:
    """Every accepted command once in the store; every read model equal to a rebuild. The
    roles are stopped once their read models are read: the rebuild needs the connections."""
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
        # An outage fails a projector's whole batch, never one handler: an event parked by a
        # projection means it reached a handler twice (a duplicate key), which the row
        # comparison can miss. (A policy's command may park, and retry, in an outage.)
        parked = sa.select(parked_table.c.projection, parked_table.c.topic, parked_table.c.error)
        parked = parked.where(parked_table.c.projection.in_(list(live.read_models.projections)),
                              parked_table.c.status.in_(OPEN))  # fmt: skip
        with live.read_models.reads() as conn:
            stuck = conn.execute(parked).all()
        assert not stuck, f"projections parked events in the faults: {stuck[:3]}"
    finally:
        live.close()
    stop_roles()
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

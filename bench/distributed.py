"""The distributed topology on this machine, shared by the benchmarks that drive it over HTTP
and WebSockets (``chat.py``, ``loadgen.py``): PostgreSQL (a fresh database), Redis, a private
Tansu broker, ``api`` processes on free ports and the background roles, each started as
``python -m infra.cli ROLE`` the way an operator would. Also the STOMP client they share and
the report writer, so each benchmark keeps only what it measures."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from websockets.asyncio.client import ClientConnection

from api.stomp import SERVER_COMMANDS, Frame, FrameParser
from bench.load import stop, wait_healthy
from devservices import (
    PostgresCluster,
    Tansu,
    create_database,
    drop_database,
    free_port,
    postgres_admin_url,
    redis_db_url,
    redis_server_url,
)

ROOT = Path(__file__).resolve().parents[1]
KEYS = "bench:" + "b" * 48
BACKGROUND_ROLES: tuple[tuple[str, ...], ...] = (("relay",), ("projector", "all"), ("policies",))


@dataclass
class Topology:
    """What a benchmark needs to drive and observe the running roles."""

    bases: list[str]
    env: dict[str, str]
    database_url: str
    database_name: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    broker_pid: int | None = None

    def pids(self) -> dict[str, int]:
        """Role name -> pid, the broker included, for per-process resource sampling."""
        pids = {name: proc.pid for name, proc in self.processes.items()}
        if self.broker_pid is not None:
            pids["tansu"] = self.broker_pid
        return pids


@contextlib.contextmanager
def topology(
    workdir: Path,
    *,
    label: str,
    apis: int = 2,
    roles: Sequence[Sequence[str]] = BACKGROUND_ROLES,
    redis_db: int = 12,
    extra_env: dict[str, str] | None = None,
    postgres: str = "local",
) -> Iterator[Topology]:
    """``apis`` API processes and ``roles`` on a fresh database and topic, all healthy.

    Pools are 4 connections per process (each pool may double under contention) so several
    processes fit PostgreSQL's default 100 connections. ``postgres="throwaway"`` runs a
    private cluster (fsync off, 200 connections) instead of the machine's server, for when
    other work holds many of the server's connections. Logs go to ``workdir/<role>.log``."""
    name = f"lm_bench_{label}_{uuid4().hex[:8]}"
    ports = [free_port() for _ in range(apis)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGUAGEMATE_")}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    with contextlib.ExitStack() as stack:
        if postgres == "throwaway":
            admin = stack.enter_context(PostgresCluster()).admin_url
        else:
            admin = postgres_admin_url()
        url = create_database(admin, name)
        stack.callback(drop_database, admin, name)
        broker = stack.enter_context(Tansu(log_path=workdir / "tansu.log"))
        env |= {
            "LANGUAGEMATE_DATA_DIR": str(workdir / "var"),
            "LANGUAGEMATE_DATABASE_URL": url,
            "LANGUAGEMATE_REDIS_URL": redis_db_url(redis_server_url(), redis_db),
            "LANGUAGEMATE_KAFKA_BOOTSTRAP": broker.bootstrap,
            "LANGUAGEMATE_KAFKA_TOPIC": f"bench-{uuid4().hex[:8]}",
            "LANGUAGEMATE_KAFKA_SESSION_TIMEOUT_MS": "2000",
            "LANGUAGEMATE_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "LANGUAGEMATE_JWT_KEYS": KEYS,
            "LANGUAGEMATE_IDENTITY_PEPPER": "bench",
            "LANGUAGEMATE_DEV_LOGIN": "1",
            "LANGUAGEMATE_LOG_LEVEL": "WARNING",
            "LANGUAGEMATE_DB_POOL_SIZE": "4",
            "LANGUAGEMATE_READ_YOUR_WRITES_TIMEOUT_SECONDS": "10",
            # Every virtual user connects from this machine's one address: the per-address
            # socket cap (200 by default) would refuse the load, not protect the server.
            "LANGUAGEMATE_WS_MAX_PER_IP": "100000",
            # The workers load no level-test models at start (workers/warm_up.py): the load
            # would fall on the first measured step; a run with level tests loads them then.
            "LANGUAGEMATE_WARM_MODELS": "0",
            # The batch windows docker-compose.yml gives the distributed roles.
            "LANGUAGEMATE_RELAY_BATCH_WINDOW_SECONDS": "0.03",
            "LANGUAGEMATE_PROJECTION_BATCH_WINDOW_SECONDS": "0.03",
        } | (extra_env or {})
        cli = [sys.executable, "-m", "app.cli"]
        commands = {f"api{i}": ["api", "--port", str(p)] for i, p in enumerate(ports)}
        commands |= {"-".join(role): list(role) for role in roles}
        for role_name, args in commands.items():
            log = open(workdir / f"{role_name}.log", "wb")  # noqa: SIM115
            processes[role_name] = subprocess.Popen(
                [*cli, *args], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        broker_pid = broker.proc.pid if broker.proc is not None else None
        try:
            for role_name, base in zip(processes, bases, strict=False):
                try:
                    wait_healthy(base)
                except RuntimeError:
                    exited = {n: p.returncode for n, p in processes.items() if p.poll() is not None}
                    tail = (workdir / f"{role_name}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(
                        f"{role_name} did not start; exited: {exited}\n{tail}"
                    ) from None
            yield Topology(bases, env, url, name, processes, broker_pid)
        finally:
            stop(list(processes.values()))


def settle(env: dict[str, str], timeout: float = 300) -> float:
    """Wait until every projection and policy has applied the whole log, so a measurement
    is of its own traffic, not of a set-up backlog; returns the seconds it took."""
    started = time.monotonic()
    command = [sys.executable, "-m", "app.cli", "projections", "status"]
    while time.monotonic() - started < timeout:
        status = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, check=False)
        if status.returncode != 0:
            raise RuntimeError(f"projections status failed: {status.stderr.decode()[-3000:]}")
        if all(p["lag"] <= 0 for p in json.loads(status.stdout)["projections"]):
            return round(time.monotonic() - started, 1)
        time.sleep(1)
    raise TimeoutError("the read models did not catch up with the set-up")


class StompSocket:
    """One STOMP 1.2 client connection over a raw WebSocket, as the SPA opens it."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws, self.parser = ws, FrameParser(commands=SERVER_COMMANDS)

    async def send(self, command: str, headers: dict[str, str], body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        await self.ws.send(Frame(command, headers, data).encode().decode())

    async def frames(self) -> AsyncIterator[Frame]:
        async for raw in self.ws:
            for frame in self.parser.feed(raw):
                if frame.command != "HEARTBEAT":
                    yield frame


def write_report(benchmark: str, report: dict[str, Any]) -> str:
    """Print the report and keep it as ``bench/results/<benchmark>-<UTC time>.json``."""
    text = json.dumps(report, indent=2)
    print(text)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{benchmark}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json").write_text(text)
    return text

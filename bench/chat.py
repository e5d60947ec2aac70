"""Chat fan-out benchmark (issue 5): SEND -> MESSAGE latency at the other member's socket with
N sockets spread over two ``languagemate api`` processes, at a target message rate.

Starts the distributed topology on this machine (PostgreSQL, Redis, the Tansu Kafka broker;
two ``api`` processes, ``relay``, ``projector all``, ``policies``), signs in N users, pairs
them into rooms whose two members sit on different API processes, connects one STOMP socket
per user, then sends messages at the target rate (round robin over the rooms, alternating
senders) and times each one until the other member receives it.

    python bench/chat.py [--sockets 200] [--rate 200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.stomp import SERVER_COMMANDS, Frame, FrameParser  # noqa: E402
from bench.load import percentile, stop, wait_healthy  # noqa: E402
from tests.services import (  # noqa: E402
    Tansu,
    create_database,
    drop_database,
    free_port,
    postgres_admin_url,
    redis_db_url,
    redis_server_url,
)

KEYS = "bench:" + "b" * 48


@contextlib.contextmanager
def topology(workdir: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """Two API processes and the background roles; yields their base URLs and settings."""
    admin = postgres_admin_url()
    name = f"lm_bench_chat_{uuid4().hex[:8]}"
    url = create_database(admin, name)
    ports = [free_port(), free_port()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGUAGEMATE_")}
    processes: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:
        stack.callback(drop_database, admin, name)
        broker = stack.enter_context(Tansu(log_path=workdir / "tansu.log"))
        env |= {
            "LANGUAGEMATE_DATA_DIR": str(workdir / "var"),
            "LANGUAGEMATE_DATABASE_URL": url,
            "LANGUAGEMATE_REDIS_URL": redis_db_url(redis_server_url(), 12),
            "LANGUAGEMATE_KAFKA_BOOTSTRAP": broker.bootstrap,
            "LANGUAGEMATE_KAFKA_TOPIC": f"bench-{uuid4().hex[:8]}",
            "LANGUAGEMATE_KAFKA_SESSION_TIMEOUT_MS": "2000",
            "LANGUAGEMATE_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "LANGUAGEMATE_JWT_KEYS": KEYS,
            "LANGUAGEMATE_IDENTITY_PEPPER": "bench",
            "LANGUAGEMATE_DEV_LOGIN": "1",
            "LANGUAGEMATE_LOG_LEVEL": "WARNING",
            "LANGUAGEMATE_DB_POOL_SIZE": "4",  # 5 processes within max_connections 100
            "LANGUAGEMATE_READ_YOUR_WRITES_TIMEOUT_SECONDS": "10",
        }
        cli = [sys.executable, "-m", "infra.cli"]
        roles = [["api", "--port", str(p)] for p in ports]
        roles += [["relay"], ["projector", "all"], ["policies"]]
        for role in roles:
            log = open(workdir / f"{role[0]}-{len(processes)}.log", "wb")  # noqa: SIM115
            processes.append(
                subprocess.Popen(
                    [*cli, *role], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
                )
            )
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        try:
            for base in bases:
                wait_healthy(base)
            yield bases, env
        finally:
            stop(processes)


class Socket:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws, self.parser = ws, FrameParser(commands=SERVER_COMMANDS)

    async def send(self, command: str, headers: dict[str, str], body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        await self.ws.send(Frame(command, headers, data).encode().decode())

    async def frames(self) -> Any:
        async for raw in self.ws:
            for frame in self.parser.feed(raw):
                if frame.command != "HEARTBEAT":
                    yield frame


async def sign_in_and_pair(
    bases: list[str], sockets: int
) -> tuple[list[dict[str, str]], list[tuple[int, int, int]]]:
    """``sockets`` users alternating between the APIs, paired into rooms across them."""
    async with httpx.AsyncClient(timeout=60) as http:
        users = []
        for index in range(sockets):
            base = bases[index % 2]
            login = await http.post(
                f"{base}/api/v1/auth/dev-login",
                json={"email": f"c{index}@bench.example", "name": f"U{index}"},
            )
            data = login.json()["data"]
            users.append({"base": base, "token": data["accessToken"], "id": data["user"]["id"]})
        rooms = []
        for index in range(0, sockets, 2):
            owner, guest = users[index], users[index + 1]
            auth = {"Authorization": f"Bearer {owner['token']}"}
            created = await http.post(
                f"{owner['base']}/api/v1/chat/rooms", json={"roomName": f"r{index}"}, headers=auth
            )
            room_id = created.json()["data"]["roomId"]
            joined = await http.post(
                f"{guest['base']}/api/v1/chat/rooms/{room_id}/join",
                headers={"Authorization": f"Bearer {guest['token']}"},
            )
            assert joined.status_code == 200, joined.text
            rooms.append((room_id, index, index + 1))
    return users, rooms


def settle(env: dict[str, str], timeout: float = 300) -> float:
    """Wait until every projection and policy has applied the whole log (the sign-ups and
    room set-up), so the measurement is of chat traffic, not of a backlog; returns seconds."""
    started = time.monotonic()
    command = [sys.executable, "-m", "infra.cli", "projections", "status"]
    while time.monotonic() - started < timeout:
        status = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, check=True)
        if all(p["lag"] <= 0 for p in json.loads(status.stdout)["projections"]):
            return round(time.monotonic() - started, 1)
        time.sleep(1)
    raise TimeoutError("the read models did not catch up with the set-up")


async def run(
    bases: list[str], env: dict[str, str], sockets: int, rate: float, seconds: float
) -> dict[str, Any]:
    users, rooms = await sign_in_and_pair(bases, sockets)
    settled = await asyncio.to_thread(settle, env)
    sent_at: dict[str, tuple[float, int]] = {}
    latencies: list[float] = []
    clients: list[Socket] = []
    beats: list[asyncio.Task[None]] = []

    async def beat(socket: Socket) -> None:
        while True:
            await asyncio.sleep(5)
            await socket.ws.send("\n")

    for user in users:
        ws_url = user["base"].replace("http", "ws") + "/ws/chat"
        socket = Socket(await connect(ws_url, max_size=8 * 1024 * 1024))
        await socket.send(
            "CONNECT", {"accept-version": "1.2", "Authorization": f"Bearer {user['token']}"}
        )
        clients.append(socket)
        beats.append(asyncio.create_task(beat(socket)))
    for room_id, first, second in rooms:
        for member in (first, second):
            await clients[member].send(
                "SUBSCRIBE", {"id": "s", "destination": f"/sub/chat/room/{room_id}"}
            )

    async def receive(index: int) -> None:
        async for frame in clients[index].frames():
            if frame.command != "MESSAGE":
                continue
            key = json.loads(frame.body)["message"]
            found = sent_at.get(key)
            if found is not None and found[1] != index:
                latencies.append((time.perf_counter() - found[0]) * 1000)

    tasks = [asyncio.create_task(receive(i)) for i in range(len(clients))] + beats
    await asyncio.sleep(2)  # subscriptions settle
    started, sent = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        room_id, first, second = rooms[sent % len(rooms)]
        sender = first if (sent // len(rooms)) % 2 == 0 else second
        key = f"m{sent}"
        sent_at[key] = (time.perf_counter(), sender)
        await clients[sender].send(
            "SEND",
            {"destination": "/pub/chat/message"},
            {"roomId": room_id, "message": key, "messageType": "TEXT"},
        )
        sent += 1
        delay = started + sent / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    elapsed = time.perf_counter() - started
    await asyncio.sleep(5)  # let stragglers arrive
    for task in tasks:
        task.cancel()
    for client in clients:
        await client.ws.close()
    return {
        "sockets": len(clients),
        "rooms": len(rooms),
        "settle_seconds": settled,
        "target_rate": rate,
        "sent": sent,
        "sent_per_s": round(sent / elapsed, 1),
        "delivered": len(latencies),
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1),
            "p99": round(percentile(latencies, 99), 1),
            "max": round(max(latencies, default=0.0), 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "benchmark": "chat",
        "started_at": datetime.now(UTC).isoformat(),
        "loadavg_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as workdir, topology(Path(workdir)) as (bases, env):
        pairs = args.sockets - args.sockets % 2
        report |= asyncio.run(run(bases, env, pairs, args.rate, args.seconds))
    report["loadavg_at_end"] = os.getloadavg()
    report["machine"] = {"nproc": os.cpu_count()}
    text = json.dumps(report, indent=2)
    print(text)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"chat-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json").write_text(text)


if __name__ == "__main__":
    main()

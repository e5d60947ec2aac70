"""Chat fan-out benchmark (issue 5): SEND -> MESSAGE latency at the other member's socket with
N sockets spread over two ``languagemate api`` processes, at a target message rate.

Starts the distributed topology on this machine (PostgreSQL, Redis, the Tansu Kafka broker;
two ``api`` processes, ``relay``, ``projector all``, ``policies``), signs in N users, pairs
them into rooms whose two members sit on different API processes, connects one STOMP socket
per user, then sends messages at the target rate (round robin over the rooms, alternating
senders) and times each one until the other member receives it.

    python bench/chat.py [--sockets 200] [--rate 200] [--seconds 20] [--live-path-only]

``--live-path-only`` stops the relay and the projector once the rooms exist: they are not on
the SEND -> MESSAGE path (an API appends, the policies' ``chat.live`` follows the log and
publishes to Redis), so the run measures that path alone, as on a deployment whose read-model
side runs on other hosts; the default run has every role sharing this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.distributed import StompSocket, Topology, settle, topology, write_report  # noqa: E402
from bench.load import percentile, stop  # noqa: E402
from bench.procstat import ProcessGroups, usage  # noqa: E402


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


def _latency_report(
    latencies: list[float], by_second: dict[int, list[float]], seconds: int
) -> dict[str, Any]:
    return {
        "delivered": len(latencies),
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1),
            "p99": round(percentile(latencies, 99), 1),
            "max": round(max(latencies, default=0.0), 1),
        },
        "p95_ms_by_second": [
            round(percentile(by_second.get(second, []), 95), 1) for second in range(seconds)
        ],
    }


async def run(
    running: Topology, sockets: int, rate: float, seconds: float, live_path_only: bool = False
) -> dict[str, Any]:
    users, rooms = await sign_in_and_pair(running.bases, sockets)
    settled = await asyncio.to_thread(settle, running.env)
    if live_path_only:
        off_path = [running.processes.pop(name) for name in ("relay", "projector-all")]
        await asyncio.to_thread(stop, off_path)
    groups = ProcessGroups(running.pids() | {"bench": os.getpid()}, running.database_name)
    sent_at: dict[str, tuple[float, int]] = {}
    latencies: list[float] = []
    # Latencies by the second of the run their message was sent in: periodic stalls (a
    # check, a collection) show as seconds whose p95 stands out.
    by_second: dict[int, list[float]] = {}
    clients: list[StompSocket] = []
    beats: list[asyncio.Task[None]] = []

    async def beat(socket: StompSocket) -> None:
        while True:
            await asyncio.sleep(5)
            await socket.ws.send("\n")

    for user in users:
        ws_url = user["base"].replace("http", "ws") + "/ws/chat"
        socket = StompSocket(await connect(ws_url, max_size=8 * 1024 * 1024))
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
                latency = (time.perf_counter() - found[0]) * 1000
                latencies.append(latency)
                by_second.setdefault(int(found[0] - started), []).append(latency)

    tasks = [asyncio.create_task(receive(i)) for i in range(len(clients))] + beats
    await asyncio.sleep(2)  # subscriptions settle
    before = groups.sample()
    print(f"chat: sending at {rate:g} msg/s for {seconds:g} s", file=sys.stderr, flush=True)
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
    resources = usage(before, groups.sample(), os.cpu_count() or 1)
    await asyncio.sleep(5)  # let stragglers arrive
    for task in tasks:
        task.cancel()
    for client in clients:
        await client.ws.close()
    return {
        "roles": sorted(running.pids()),
        "sockets": len(clients),
        "rooms": len(rooms),
        "settle_seconds": settled,
        "target_rate": rate,
        "sent": sent,
        "sent_per_s": round(sent / elapsed, 1),
        **_latency_report(latencies, by_second, int(elapsed)),
        "resources": resources,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a LANGUAGEMATE_* setting for every role, e.g. KAFKA_FETCH_MAX_WAIT_MS=100",
    )
    parser.add_argument(
        "--live-path-only",
        action="store_true",
        help="stop the relay and the projector after set-up (see the module docstring)",
    )
    args = parser.parse_args()
    extra = dict(f"LANGUAGEMATE_{item}".split("=", 1) for item in args.env)
    report: dict[str, Any] = {
        "benchmark": "chat",
        "started_at": datetime.now(UTC).isoformat(),
        "loadavg_at_start": os.getloadavg(),
        "settings": extra,
    }
    with (
        tempfile.TemporaryDirectory() as workdir,
        topology(Path(workdir), label="chat", extra_env=extra) as running,
    ):
        pairs = args.sockets - args.sockets % 2
        report |= asyncio.run(
            run(running, pairs, args.rate, args.seconds, live_path_only=args.live_path_only)
        )
    report["loadavg_at_end"] = os.getloadavg()
    report["machine"] = {"nproc": os.cpu_count()}
    write_report("chat", report)


if __name__ == "__main__":
    main()

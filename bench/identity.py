"""Identity and onboarding benchmark (issue 3): sign-in and refresh throughput and latency
at concurrency 16, and onboarding-status latency, against a real server process.

Modes: ``embedded`` runs ``languagemate serve`` (SQLite); ``distributed`` runs ``languagemate
api`` + ``relay`` + ``projector all`` against PostgreSQL and the Tansu Kafka broker.
Prints one JSON report and writes it to ``bench/results/identity-<time>.json``.

    python bench/identity.py [--mode embedded|distributed|both] [--seconds 10] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import closed_loop, stop, wait_healthy  # noqa: E402
from devservices import Tansu, create_database, drop_database, free_port, postgres_admin_url  # noqa: E402

KEYS = "bench:" + "b" * 48


@contextlib.contextmanager
def server(mode: str, workdir: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGUAGEMATE_")}
    env |= {
        "LANGUAGEMATE_DATA_DIR": str(workdir / "var"),
        "LANGUAGEMATE_DEV_LOGIN": "1",
        "LANGUAGEMATE_JWT_KEYS": KEYS,
        "LANGUAGEMATE_IDENTITY_PEPPER": "bench-pepper",
        "LANGUAGEMATE_LOG_LEVEL": "WARNING",
    }
    processes: list[subprocess.Popen[bytes]] = []
    cli = [sys.executable, "-m", "app.cli"]
    with contextlib.ExitStack() as stack:
        if mode == "embedded":
            processes.append(
                subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, cwd=ROOT)
            )
        else:
            admin = postgres_admin_url()
            name = f"lm_bench_{uuid4().hex[:8]}"
            url = create_database(admin, name)
            stack.callback(drop_database, admin, name)
            broker = stack.enter_context(Tansu(log_path=workdir / "tansu.log"))
            env |= {
                "LANGUAGEMATE_DATABASE_URL": url,
                "LANGUAGEMATE_KAFKA_BOOTSTRAP": broker.bootstrap,
                "LANGUAGEMATE_KAFKA_SESSION_TIMEOUT_MS": "2000",
                "LANGUAGEMATE_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
                "LANGUAGEMATE_READ_YOUR_WRITES_TIMEOUT_SECONDS": "10",
            }
            processes.append(
                subprocess.Popen([*cli, "api", "--port", str(port)], env=env, cwd=ROOT)
            )
            processes.append(subprocess.Popen([*cli, "relay"], env=env, cwd=ROOT))
            processes.append(subprocess.Popen([*cli, "projector", "all"], env=env, cwd=ROOT))
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base)
            yield base
        finally:
            stop(processes)


async def measure(base: str, seconds: float, concurrency: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        users = []
        for index in range(concurrency):
            login = await client.post(
                "/api/v1/auth/dev-login",
                json={"email": f"bench{index}@example.com", "name": f"Bench {index}"},
            )
            users.append(login.json()["data"])
    refresh_tokens = [u["refreshToken"] for u in users]
    access_tokens = [u["accessToken"] for u in users]

    async def dev_login(client: httpx.AsyncClient, worker: int) -> httpx.Response:
        return await client.post(
            "/api/v1/auth/dev-login", json={"email": f"bench{worker}@example.com", "name": "Bench"}
        )

    async def refresh(client: httpx.AsyncClient, worker: int) -> httpx.Response:
        response = await client.post(
            "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {refresh_tokens[worker]}"}
        )
        if response.status_code == 200:
            refresh_tokens[worker] = response.json()["data"]["refreshToken"]
        return response

    async def status(client: httpx.AsyncClient, worker: int) -> httpx.Response:
        return await client.get(
            "/api/v1/users/onboarding-status",
            headers={"Authorization": f"Bearer {access_tokens[worker]}"},
        )

    return {
        "dev_login": await closed_loop(base, dev_login, concurrency=concurrency, seconds=seconds),
        "refresh": await closed_loop(base, refresh, concurrency=concurrency, seconds=seconds),
        "onboarding_status": await closed_loop(
            base, status, concurrency=concurrency, seconds=seconds
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["embedded", "distributed", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    modes = ["embedded", "distributed"] if args.mode == "both" else [args.mode]
    report: dict[str, Any] = {
        "benchmark": "identity",
        "started_at": datetime.now(UTC).isoformat(),
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg": os.getloadavg(),
        },
        "concurrency": args.concurrency,
        "seconds_per_endpoint": args.seconds,
        "note": "client and server share the same 2 cores; closed loop, loopback only",
        "results": {},
    }
    for mode in modes:
        with tempfile.TemporaryDirectory() as workdir, server(mode, Path(workdir)) as base:
            report["results"][mode] = asyncio.run(measure(base, args.seconds, args.concurrency))
    text = json.dumps(report, indent=2)
    print(text)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"identity-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json").write_text(text)


if __name__ == "__main__":
    main()

"""Closed-loop HTTP load for the benchmarks: N concurrent workers, each sending the next
request as soon as the previous one answered, for a fixed duration (loopback only)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

Request = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(latencies: list[float], errors: int, seconds: float) -> dict[str, Any]:
    ms = [v * 1000 for v in latencies]
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(seconds, 2),
        "requests_per_s": round(len(latencies) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else 0.0,
    }


async def closed_loop(
    base_url: str, request: Request, *, concurrency: int, seconds: float
) -> dict[str, Any]:
    """Run ``request(client, worker_index)`` from ``concurrency`` workers for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

        async def worker(index: int) -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await request(client, index)
                elapsed = time.perf_counter() - started
                if response.status_code >= 400:
                    errors += 1
                else:
                    latencies.append(elapsed)

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return summary(latencies, errors, time.perf_counter() - started)


def wait_healthy(base: str, timeout: float = 90) -> None:
    """Block until ``base`` answers its health check (a server process starting up)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{base} did not start")
        time.sleep(0.2)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGINT every process (a clean shutdown), then kill what is still there after 20 s."""
    for proc in processes:
        proc.send_signal(signal.SIGINT)
    for proc in processes:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()

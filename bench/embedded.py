"""The embedded server against a bare FastAPI + ``eventsourcing`` app, side by side in one
run, with the same load tool (wrk, a C program, so the load costs little of the 2 cores).

* **Profile write**: ``POST /api/v1/users/self-bio`` spread over 32 signed-in users, 8
  connections, a different text on every request (each one a real change: an event, its
  projections, its embedding job) against the bare app's load-change-save of one
  event-sourced aggregate per request on SQLite (``bench/bare_app.py``).
* **A request that touches nothing**: ``GET /api/v1/health/live`` against a FastAPI hello.
* **Idle**: the server's threads and CPU over a quiet stretch after the load.

Targets are run alternately (bare, ours, bare, ours) so slow drift of the machine falls on
both. Prints one JSON report and writes it to ``bench/results/embedded-<time>.json``.

    python bench/embedded.py                 # 20 s per measurement, 2 rounds
    python bench/embedded.py --seconds 10 --rounds 1
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.distributed import write_report  # noqa: E402
from bench.procstat import CLOCK_TICKS  # noqa: E402
from bench.server_metrics import Scrape  # noqa: E402

WRITE_SCRIPT = """
tokens = {%(tokens)s}
counter = 0
request = function()
  counter = counter + 1
  local i = counter %% #tokens + 1
  local body = '{"selfBio": "I like hiking and cooking, note ' .. counter .. '"}'
  return wrk.format("POST", "%(path)s", {["Authorization"] = "Bearer " .. tokens[i],
    ["Content-Type"] = "application/json"}, body)
end
"""
BARE_WRITE_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"selfBio": "I like hiking and cooking, note ' .. counter .. '"}'
  return wrk.format("POST", "/users/" .. (counter %% %(users)d) .. "/bio",
    {["Content-Type"] = "application/json"}, body)
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited during start-up")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def wrk(url: str, script: str, seconds: int, connections: int, workdir: Path) -> dict[str, Any]:
    """One wrk run; its throughput, latency percentiles and non-2xx answers."""
    lua = workdir / f"script-{time.monotonic_ns()}.lua"
    lua.write_text(script)
    done = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua), url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = done.stdout
    latency = {m[0]: _ms(m[1]) for m in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M)}
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)$", out, re.M)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": latency.get("50"),
        "p90_ms": latency.get("90"),
        "p99_ms": latency.get("99"),
        "non_2xx": int(failed.group(1)) if failed else 0,
        "socket_errors": errors.group(1) if errors else None,
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 3)


def idle(pid: int, seconds: float) -> dict[str, Any]:
    """CPU share of one core and thread count of a quiet process."""

    def ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    before, started = ticks(), time.monotonic()
    time.sleep(seconds)
    cpu = (ticks() - before) / CLOCK_TICKS / (time.monotonic() - started)
    threads = int(re.search(r"^Threads:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(),
                            re.M).group(1))  # type: ignore[union-attr]  # fmt: skip
    return {"cpu_percent_of_a_core": round(cpu * 100, 2), "threads": threads,
            "seconds": seconds}  # fmt: skip


def _tokens(base: str, users: int) -> list[str]:
    tokens = []
    for index in range(users):
        body = {"email": f"bench{index}@example.com", "name": f"Bench {index}"}
        login = httpx.post(f"{base}/api/v1/auth/dev-login", json=body, timeout=30)
        login.raise_for_status()
        tokens.append(login.json()["data"]["accessToken"])
    return tokens


def _scrape(base: str) -> Scrape:
    scrape = Scrape()
    scrape.add(httpx.get(f"{base}/metrics", timeout=30).text)
    return scrape


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGUAGEMATE_")}
    ours_port, bare_port = free_port(), free_port()
    # No level-test models loaded at start (workers/warm_up.py): the load would fall on the
    # first rounds, bare or ours, and this bench takes no level test (--env WARM_MODELS=1).
    ours_env = env | {"LANGUAGEMATE_DATA_DIR": str(workdir / "var"),
                      "LANGUAGEMATE_DEV_LOGIN": "1", "LANGUAGEMATE_WARM_MODELS": "0"} | dict(
        f"LANGUAGEMATE_{item}".split("=", 1) for item in args.env)  # fmt: skip
    ours_cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(ours_port)]
    bare_cmd = [sys.executable, str(ROOT / "bench" / "bare_app.py"), "--port", str(bare_port),
                "--db", str(workdir / "bare.sqlite3"), "--users", str(args.users)]  # fmt: skip
    ours_base, bare_base = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{bare_port}"
    rounds: list[dict[str, Any]] = []
    with (
        _process(ours_cmd, ours_env, workdir / "serve.log") as ours,
        _process(bare_cmd, env, workdir / "bare.log") as bare,
    ):
        _wait(f"{ours_base}/health/live", ours)
        _wait(f"{bare_base}/health/live", bare)
        tokens = _tokens(ours_base, args.users)
        ours_write = WRITE_SCRIPT % {"tokens": ", ".join(f'"{t}"' for t in tokens),
                                     "path": "/api/v1/users/self-bio"}  # fmt: skip
        bare_write = BARE_WRITE_SCRIPT % {"users": args.users}
        time.sleep(5)  # the sign-ups' projections and jobs settle
        for number in range(args.rounds):
            one = {"round": number + 1}
            for target, base, script in (("bare", bare_base, bare_write),
                                         ("ours", ours_base, ours_write)):  # fmt: skip
                before = _scrape(ours_base) if target == "ours" else None
                one[f"write_{target}"] = wrk(base, script, args.seconds, args.connections,
                                             workdir)  # fmt: skip
                if before is not None:  # what the writes' answers waited for their read model
                    waits = _scrape(ours_base).waits_since(before)
                    one["write_ours"]["read_your_writes_wait_ms"] = waits
                time.sleep(args.settle)
            for target, url in (("bare", f"{bare_base}/health/live"),
                                ("ours", f"{ours_base}/health/live")):  # fmt: skip
                one[f"live_{target}"] = wrk(url, "", args.seconds, args.connections, workdir)
                time.sleep(args.settle)
            rounds.append(one)
        quiet = idle(ours.pid, args.idle_seconds)
        bare_quiet = idle(bare.pid, args.idle_seconds)
    return {"rounds": rounds, "idle_ours": quiet, "idle_bare": bare_quiet,
            "summary": _summary(rounds, quiet)}  # fmt: skip


def _summary(rounds: list[dict[str, Any]], quiet: dict[str, Any]) -> dict[str, Any]:
    def ratio(kind: str) -> list[float]:
        return [round(r[f"{kind}_ours"]["requests_per_s"] / r[f"{kind}_bare"]["requests_per_s"],
                      3) for r in rounds]  # fmt: skip

    writes, lives = ratio("write"), ratio("live")
    return {
        "write_ratio_ours_to_bare": writes,
        "write_ratio_median": statistics.median(writes),
        # Neither app snapshots, so every round reads longer histories than the last, and
        # the bare app, which wrote more, slows down more: the first round is the fair one.
        "write_ratio_first_round": writes[0],
        "live_ratio_ours_to_bare": lives,
        "live_ratio_median": statistics.median(lives),
        "idle_cpu_percent_of_a_core": quiet["cpu_percent_of_a_core"],
        "idle_threads": quiet["threads"],
        "goals": {"write_ratio": 0.7, "live_ratio": 0.7, "idle_cpu_percent": 1.0},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds of quiet between measurements")  # fmt: skip
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--env", action="append", default=[],
                        help="a LANGUAGEMATE_* setting, e.g. LOG_LEVEL=WARNING")  # fmt: skip
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (apt-get install wrk)")
    report: dict[str, Any] = {
        "benchmark": "embedded",
        "started_at": datetime.now(UTC).isoformat(),
        "loadavg_at_start": os.getloadavg(),
        "parameters": vars(args),
    }
    with tempfile.TemporaryDirectory() as workdir:
        report |= run(args, Path(workdir))
    report["loadavg_at_end"] = os.getloadavg()
    report["machine"] = {"nproc": os.cpu_count()}
    write_report("embedded", report)


if __name__ == "__main__":
    main()

"""History tooling at scale (issue 8): ``events export`` and ``events replay`` throughput,
a full rebuild of every projection, and the dashboard API's latency, on N events (default
1,000,000) in PostgreSQL.

The history is real domain events: users signed in through the command layer, group rooms
created through it, then N chat messages made by the ``ChatMessage`` aggregate itself and
appended in batches (the command bus would only add its per-command round trips). Each
message carries an encrypted text, as in production. Prints one JSON report and writes it
to ``bench/results/history-<time>.json``.

    python bench/history.py [--events 1000000] [--users 500] [--rooms 100]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.system_snapshot import snapshot  # noqa: E402
from app.history import Selection, export, replay, selected  # noqa: E402
from app.rebuild import rebuild_all  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from commands.base import CommandContext  # noqa: E402
from commands.chat import CreateRoom, create_room  # noqa: E402
from commands.identity import sign_in  # noqa: E402
from devservices import create_database, drop_database, postgres_admin_url  # noqa: E402
from devservices.settings import TEST_JWT_KEYS, make_settings  # noqa: E402
from domain.aggregate import Cause  # noqa: E402
from domain.chat import ChatMessage, ChatRoom, message_aggregate_id, room_aggregate_id  # noqa: E402
from projections.platform_metrics import metrics  # noqa: E402

BATCH = 2_000


class Sink(io.RawIOBase):
    """Counts bytes instead of keeping them (the export's own cost, not a disk's)."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: Any) -> int:
        self.size += len(data)
        return len(data)


def seed(rt: Runtime, events: int, users: int, rooms: int) -> float:
    ctx = CommandContext(actor_id="bench")
    ids = [sign_in(rt.bus, ctx, pepper=rt.pepper, email=f"u{i}@bench.example", name=f"U{i}",
                   provider="dev").result["user_id"] for i in range(users)]  # fmt: skip
    room_objects = []
    for r in range(rooms):
        members = [ids[(r * 7 + k) % users] for k in range(4)]
        room_id = create_room(rt.bus, ctx, creator_id=members[0], command=CreateRoom(
            roomName=f"room {r}", participantIds=members[1:])).result["room_id"]  # fmt: skip
        room = rt.store.load(ChatRoom, room_aggregate_id(room_id))
        assert room is not None
        room_objects.append((room, members))
    started = time.perf_counter()
    base = datetime.now(UTC) - timedelta(days=29)
    pending = []
    for n in range(events - rt.store.max_position()):
        room, members = room_objects[n % rooms]
        cause = Cause(occurred_at=base + timedelta(seconds=n * 2.5), correlation_id=uuid4(),
                      actor_id=members[n % 4])  # fmt: skip
        client_id = f"m{n}"
        message = ChatMessage(message_aggregate_id(room.room_id, client_id))
        message.post(cause, room, sender_id=members[n % 4], client_message_id=client_id,
                     text=f"message {n} about the weekend", image_urls=[], audio_url=None,
                     audio_duration=None)  # fmt: skip
        pending.extend(message.collect())
        if len(pending) >= BATCH:
            rt.store.append(pending)
            pending = []
    rt.store.append(pending)
    return time.perf_counter() - started


def timed(function: Any, *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--rooms", type=int, default=100)
    args = parser.parse_args()
    admin = postgres_admin_url()
    name = f"lm_bench_history_{uuid4().hex[:8]}"
    url = create_database(admin, name)
    report: dict[str, Any] = {"benchmark": "history", "events": args.events,
                              "loadavg_at_start": os.getloadavg()}  # fmt: skip
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rt = Runtime.build(make_settings(Path(tmp), database_url=url), policies=[])
            try:
                report["seed_seconds"] = round(seed(rt, args.events, args.users, args.rooms), 1)
                head = rt.store.max_position()
                report["stored_events"] = head
                sink = Sink()
                count, seconds = timed(lambda: export(selected(rt.store, Selection()), sink))
                report["export"] = {"events": count, "seconds": round(seconds, 2),
                                    "events_per_second": round(count / seconds),
                                    "megabytes": round(sink.size / 1e6, 1)}  # fmt: skip
                count, seconds = timed(replay, rt.store, lambda e, p: None, Selection(), None)
                report["replay_noop_handler"] = {
                    "events": count, "seconds": round(seconds, 2),
                    "events_per_second": round(count / seconds)}  # fmt: skip
                # What an operator runs: `languagemate projections rebuild all`, one process
                # per projection, as many at once as there are cores.
                os.environ.update({"LANGUAGEMATE_DATABASE_URL": url,
                                   "LANGUAGEMATE_DATA_DIR": str(Path(tmp)),
                                   "LANGUAGEMATE_JWT_KEYS": TEST_JWT_KEYS,
                                   "LANGUAGEMATE_IDENTITY_PEPPER": "test-pepper",
                                   "LANGUAGEMATE_LOG_LEVEL": "WARNING"})  # fmt: skip
                results, seconds = timed(lambda: rebuild_all(keep_old=True))
                report["rebuild_all"] = {
                    "seconds": round(seconds, 1), "parallel_processes": os.cpu_count(),
                    "per_projection": {r["projection"]: r["seconds"] for r in results}}  # fmt: skip
                end = datetime.now(UTC).date()
                latencies = []
                for _ in range(30):
                    _, seconds = timed(metrics, rt.read_models, end - timedelta(days=29), end,
                                       "day")  # fmt: skip
                    latencies.append(seconds * 1000)
                health = []
                for _ in range(30):
                    _, seconds = timed(snapshot, rt)
                    health.append(seconds * 1000)
                report["dashboard_api_ms"] = {
                    "metrics_30_days_p50": round(statistics.median(latencies), 1),
                    "metrics_30_days_p95": round(statistics.quantiles(latencies, n=20)[18], 1),
                    "health_snapshot_p50": round(statistics.median(health), 1),
                    "health_snapshot_p95": round(statistics.quantiles(health, n=20)[18], 1),
                }
            finally:
                rt.close()
    finally:
        drop_database(admin, name)
    report["loadavg_at_end"] = os.getloadavg()
    out = ROOT / "bench" / "results" / f"history-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

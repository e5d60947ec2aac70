"""Matching benchmark (issue 4): partner-search latency with N synthetic users (default
100,000) built through the event store and the projections, and request/accept throughput.

Users are created by the domain aggregates (real events, appended in batches through the
event store), then the accounts, profiles and matching projections catch up from the log
into PostgreSQL, exactly as a rebuild would. Searches go through the HTTP app in-process.

    python bench/matching.py [--users 100000] [--searches 300] [--database NAME]

``--database`` keeps the built database (creating and filling it on the first run), so
later runs measure search again without rebuilding 100,000 users.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import percentile  # noqa: E402
from devservices import create_database, drop_database, postgres_admin_url  # noqa: E402
from devservices.process import with_path  # noqa: E402

KEYS = "bench:" + "b" * 48


def build_users(rt: Any, count: int, rng: random.Random) -> tuple[int, float]:
    from commands.identity import account_id_for
    from domain.aggregate import Cause
    from domain.identity import Account
    from domain.profiles import Profile, TargetLanguage, profile_id

    started = time.perf_counter()
    pending: list[Any] = []
    for index in range(count):
        cause = Cause(occurred_at=datetime.now(UTC), correlation_id=uuid4())
        account = Account(account_id_for(rt.pepper, f"user{index}@bench.example"))
        account.register(
            cause, email=f"user{index}@bench.example", name=f"User {index}", provider="dev"
        )
        user_id = str(account.id)
        profile = Profile(profile_id(user_id))
        profile.user_id = user_id
        native = rng.randint(1, 12)
        target = rng.choice([n for n in range(1, 13) if n != native])
        profile.set_native_language(cause, native)
        profile.set_language_levels(
            cause,
            [
                TargetLanguage(
                    language_id=target, current_level_id=rng.randint(100, 105), target_level_id=106
                )
            ],
        )
        profile.choose_interests(cause, "topics", rng.sample(range(1, 10), 3))
        profile.set_birth_year(cause, rng.randint(1960, 2008), 2026)
        profile.set_gender(cause, rng.choice(["MALE", "FEMALE"]))
        pending += account.collect() + profile.collect()
        if len(pending) >= 3000:
            rt.store.append(pending)
            pending = []
    if pending:
        rt.store.append(pending)
    return rt.store.max_position(), time.perf_counter() - started


def project(rt: Any) -> dict[str, float]:
    """Seconds each projection group took to catch up with the log."""
    return {name: round(seconds, 1) for name, seconds in rt.catch_up().items()}


def request_accept(rt: Any, users: int, pairs: int) -> dict[str, Any]:
    """Send and accept ``pairs`` match requests through the command layer (event store
    appends, pair aggregates, idempotency and OCC included; no HTTP)."""
    from commands.base import CommandContext
    from commands.identity import account_id_for
    from commands.matching import AcceptRequest, SendRequest, accept_request, send_request

    started = time.perf_counter()
    for index in range(pairs):
        sender = str(account_id_for(rt.pepper, f"user{2 * index + 100}@bench.example"))
        receiver = str(account_id_for(rt.pepper, f"user{2 * index + 101}@bench.example"))
        sent = send_request(
            rt.bus, CommandContext(actor_id=sender), SendRequest(user_id=sender, other_id=receiver)
        )
        accept_request(
            rt.bus,
            CommandContext(actor_id=receiver),
            AcceptRequest(
                pair_id=UUID(sent.result["pair_id"]),
                request_id=sent.result["request_id"],
                user_id=receiver,
            ),
        )
    seconds = time.perf_counter() - started
    return {
        "pairs": pairs,
        "seconds": round(seconds, 2),
        "request_plus_accept_per_s": round(pairs / seconds, 1),
    }


QUERIES = (
    "",
    "?targetLanguage=2",
    "?minAge=20&maxAge=35",
    "?nativeLanguage=3&gender=FEMALE",
    "?languageLevel=B1",
)


def measure_search(client: Any, searchers: list[dict[str, str]], runs: int) -> dict[str, Any]:
    """Latency of ``GET /matching/partners`` over a mix of filters, in ms."""
    latencies: dict[str, list[float]] = {q or "default": [] for q in QUERIES}
    for run in range(runs):
        query = QUERIES[run % len(QUERIES)]
        started = time.perf_counter()
        response = client.get(
            f"/api/v1/matching/partners{query}", headers=searchers[run % len(searchers)]
        )
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.text
        latencies[query or "default"].append(elapsed)
    every = [v for values in latencies.values() for v in values]
    return {
        "all": {
            "p50": round(percentile(every, 50), 1),
            "p95": round(percentile(every, 95), 1),
            "n": len(every),
        },
        **{
            q: {"p50": round(percentile(v, 50), 1), "p95": round(percentile(v, 95), 1)}
            for q, v in latencies.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--database", help="keep and reuse this database")
    args = parser.parse_args()

    import psycopg
    from fastapi.testclient import TestClient

    from api.app import create_app
    from app.runtime import Runtime
    from infra.settings import Settings

    admin = postgres_admin_url()
    name = args.database or f"lm_match_{uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    url = with_path(admin, f"/{name}") if exists else create_database(admin, name)
    # Building 100,000 users creates 100,000 data keys, each a durable commit; the build is
    # setup, not the measurement, so this database commits without waiting for fsync.
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = off".encode())
    rng = random.Random(7)
    report: dict[str, Any] = {
        "benchmark": "matching",
        "started_at": datetime.now(UTC).isoformat(),
        "users": args.users,
    }
    try:
        with tempfile.TemporaryDirectory() as workdir:
            settings = Settings(
                data_dir=Path(workdir),
                database_url=url,
                dev_login=True,
                jwt_keys=KEYS,
                identity_pepper="bench",
                projection_batch_size=2000,
                read_your_writes_timeout_seconds=0,
                redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
            )
            rt = Runtime.build(settings, policies=[])
            if rt.store.max_position() == 0:
                events, seconds = build_users(rt, args.users, rng)
                report["build"] = {
                    "events": events,
                    "seconds": round(seconds, 1),
                    "events_per_s": round(events / seconds),
                }
            report["projection_catch_up_seconds"] = project(rt)
            # A bulk load leaves planner statistics and the visibility map behind; a live
            # system's autovacuum keeps them current, so measure search in that state.
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            client = TestClient(create_app(rt))
            searchers = []
            for index in range(20):
                login = client.post(
                    "/api/v1/auth/dev-login",
                    json={"email": f"user{index}@bench.example", "name": "x"},
                )
                searchers.append({"Authorization": f"Bearer {login.json()['data']['accessToken']}"})
            project(rt)
            report["search_ms"] = measure_search(client, searchers, args.searches)
            if not exists:
                pairs = min(400, max(0, args.users - 100) // 2)  # users from 100 on
                report["request_accept"] = request_accept(rt, args.users, pairs)
            rt.close()
    finally:
        if not args.database:
            drop_database(admin, name)
    report["machine"] = {"nproc": os.cpu_count(), "loadavg": os.getloadavg()}
    text = json.dumps(report, indent=2)
    print(text)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"matching-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json").write_text(text)


if __name__ == "__main__":
    main()

"""The load generator's scenario against two real API processes and the background roles,
with a handful of users for a few seconds: every action it takes must succeed, so the
benchmark cannot quietly drift away from the API it measures. No timing is asserted."""

from __future__ import annotations

import asyncio
import os

from bench.loadgen import Options, drive
from tests.e2e.conftest import Processes, two_apis


def test_every_scenario_step_succeeds_for_a_few_virtual_users(
    distributed_env: dict[str, str], redis_url: str, postgres_url: str, processes: Processes
) -> None:
    # Pools of 4 (8 under contention): enough for the ten policy threads of one process,
    # and five processes still fit a PostgreSQL server that other tests share.
    pool = {"LANGUAGEMATE_DB_POOL_SIZE": "4"}
    env = {**distributed_env, "LANGUAGEMATE_REDIS_URL": redis_url, **pool}
    _, bases, apis = two_apis(processes, env, "policies")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LANGUAGEMATE_")}
    options = Options(
        rates=[8.0],
        step_seconds=15,
        users=6,
        warmup_users=6,
        new_user_share=0.0,
        freshness_share=1.0,
        p99_limit_ms=60_000,
        max_seconds=240,
    )

    report = asyncio.run(
        drive(
            bases,
            options,
            database_url=postgres_url,
            pids={"api0": apis[0].pid, "api1": apis[1].pid},
            settle_env=clean | env,
        )
    )

    assert {"options", "warm_up", "steps", "knee", "at_twice_the_knee", "first_saturated"} <= set(
        report
    )
    warm = report["warm_up"]
    assert warm["errors"] == 0, warm["failures"]
    assert warm["actions"]["sign_in"] == {"ok": 6}
    assert warm["actions"]["onboard_schedule"] == {"ok": 6}  # all six finished onboarding
    (step,) = report["steps"]
    assert step["errors"] == 0, step["failures"]
    assert set(step["shed_by_server"]) == {"requests", "per_s", "latency_ms"}
    assert all("failed" not in counts for counts in step["actions"].values()), step["actions"]
    for kind in ("search", "request", "accept", "chat"):
        assert step["actions"].get(kind, {}).get("ok", 0) > 0, (kind, step["actions"])
    assert step["requests"] > 0 and step["writes_accepted"] > 0
    assert step["events_appended"] > 0 and step["events_by_context"]["matching"] > 0
    assert step["endpoints"]["GET /api/v1/matching/partners"]["count"] > 0
    assert step["endpoints"]["STOMP SEND -> own MESSAGE"]["2xx"] > 0
    assert step["freshness_ms"]["match_accept -> 1:1 chat room (policy)"]["count"] > 0
    # Requests and acceptances wait for the matching read model; their waits are reported.
    waited = step["read_your_writes_wait_ms"]["matching"]
    assert waited["count"] > 0 and 0 <= waited["p50"] <= waited["p95"]
    assert {"api0", "api1", "loadgen"} <= set(step["resources"]["groups"])

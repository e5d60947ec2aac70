"""Operator and analyst commands, run through the real CLI entry point."""

from __future__ import annotations

import inspect
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from app.cli import main
from app.runtime import Runtime
from commands.base import CommandContext
from commands.identity import sign_in
from devservices.settings import TEST_JWT_KEYS, make_settings
from domain.catalog import CONTEXT_MODULES
from domain.events import DomainEvent
from projections.catalog import PROJECTIONS
from projections.identity import accounts, get_account
from tests.support import follow


def _env(data_dir: Path) -> dict[str, str]:
    return {
        "LANGUAGEMATE_DATA_DIR": str(data_dir),
        "LANGUAGEMATE_JWT_KEYS": TEST_JWT_KEYS,
        "LANGUAGEMATE_IDENTITY_PEPPER": "test-pepper",
    }


def test_events_catalog_lists_every_domain_event_with_its_schema() -> None:
    result = CliRunner().invoke(main, ["events", "catalog"])
    assert result.exit_code == 0, result.output
    catalog = {entry["topic"]: entry for entry in json.loads(result.output)}
    declared = {
        obj.topic
        for module in CONTEXT_MODULES
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, DomainEvent) and "topic" in obj.__dict__
    }
    assert declared <= set(catalog)
    registered = catalog["identity.AccountRegistered"]
    assert registered["schemaVersion"] == 1
    assert set(registered["schema"]["properties"]) == {"email", "name", "provider"}
    assert "meta" not in registered["schema"]["properties"]


def _seed(tmp_path: Path, runtimes: Callable[..., Runtime], users: int) -> Runtime:
    rt = runtimes(make_settings(tmp_path / "var"))
    for index in range(users):
        sign_in(
            rt.bus,
            CommandContext(),
            pepper="test-pepper",
            email=f"u{index}@example.com",
            name=f"User {index}",
            provider="dev",
        )
    runner, source = follow(rt, accounts, kafka=False)
    runner.catch_up(source, rt.store.max_position())
    source.close()
    return rt


def test_projections_status_reports_position_and_lag(
    tmp_path: Path, runtimes: Callable[..., Runtime]
) -> None:
    rt = _seed(tmp_path, runtimes, users=3)
    result = CliRunner().invoke(main, ["projections", "status"], env=_env(tmp_path / "var"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    status = {p["projection"]: p for p in report["projections"]}["accounts"]
    head = rt.store.max_position()
    assert report["head"] == head and head >= 6  # three sign-ins, each several events
    assert (status["position"], status["lag"], status["error"]) == (head, 0, None)


def test_rebuild_from_the_cli_switches_to_a_new_version_with_the_same_rows(
    tmp_path: Path, runtimes: Callable[..., Runtime]
) -> None:
    rt = _seed(tmp_path, runtimes, users=4)
    before = {u: get_account(rt.read_models, u) for u in _user_ids(rt)}
    result = CliRunner().invoke(
        main, ["projections", "rebuild", "accounts"], env=_env(tmp_path / "var")
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["version"] == 2
    assert rt.read_models.active_version("accounts", fresh=True) == 2
    assert {u: get_account(rt.read_models, u) for u in _user_ids(rt)} == before
    with rt.read_models.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert "accounts_v2" in tables and "accounts_v1" not in tables


def _user_ids(rt: Runtime) -> list[str]:
    table = rt.read_models.table(accounts, "accounts")
    with rt.read_models.engine.connect() as conn:
        return sorted(conn.execute(sa.select(table.c.user_id)).scalars())


def test_skip_refuses_a_position_that_is_not_failing(
    tmp_path: Path, runtimes: Callable[..., Runtime]
) -> None:
    _seed(tmp_path, runtimes, users=1)
    result = CliRunner().invoke(
        main, ["projections", "skip", "accounts", "1"], env=_env(tmp_path / "var")
    )
    assert result.exit_code != 0
    assert "no failing event at position 1" in result.output


def test_stale_read_models_block_serving_roles_until_rebuilt(
    tmp_path: Path, runtimes: Callable[..., Runtime]
) -> None:
    rt = runtimes(make_settings(tmp_path / "var"))
    assert rt.read_models.stale() == []
    # As if the matching tables had been built by an older release (another schema).
    with rt.read_models.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE projection_schemas SET fingerprint = 'old' WHERE projection = :p"),
            {"p": "matching"},
        )
    env = _env(tmp_path / "var")
    status = CliRunner().invoke(main, ["projections", "status"], env=env)
    flags = {p["projection"]: p["stale"] for p in json.loads(status.output)["projections"]}
    assert {"accounts", "profiles", "matching"} <= set(flags)
    assert [name for name, stale in flags.items() if stale] == ["matching"]
    refused = CliRunner().invoke(main, ["api"], env=env)
    assert refused.exit_code == 1
    assert "projections rebuild NAME" in refused.output and "matching" in refused.output
    rebuilt = CliRunner().invoke(main, ["projections", "rebuild", "matching"], env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.output)["version"] == 2
    status = CliRunner().invoke(main, ["projections", "status"], env=env)
    assert not any(p["stale"] for p in json.loads(status.output)["projections"])


def test_export_and_resumable_replay_from_the_cli(
    tmp_path: Path, runtimes: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _seed(tmp_path, runtimes, users=3)
    env = _env(tmp_path / "var")
    out = tmp_path / "events.jsonl"
    topic = "identity.AccountRegistered"
    exported = CliRunner().invoke(main, ["events", "export", "--topic", topic, "-o", str(out)],
                                  env=env)  # fmt: skip
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["topic"] for line in lines] == [topic] * 3
    assert lines[0]["event"]["data"]["email"].startswith("pii:v1:")  # encrypted as stored
    after = CliRunner().invoke(main, ["events", "export", "--after", str(lines[1]["position"])],
                               env=env)  # fmt: skip
    positions = [json.loads(line)["position"] for line in after.stdout.splitlines()]
    assert positions and min(positions) > lines[1]["position"]

    handler = tmp_path / "lm_count.py"
    handler.write_text(
        "seen = []\n"
        "def handle(event, position):\n"
        "    with open(__file__ + '.log', 'a') as log:\n"
        "        log.write(f'{position} {event.topic}\\n')\n"
    )
    checkpoint = tmp_path / "replay.checkpoint"
    args = ["events", "replay", "--handler", "lm_count:handle", "--checkpoint", str(checkpoint)]
    monkeypatch.syspath_prepend(str(tmp_path))
    first = CliRunner().invoke(main, args, env=env)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["replayed"] == rt.store.max_position()
    again = CliRunner().invoke(main, args, env=env)
    assert json.loads(again.output)["replayed"] == 0  # resumed after the checkpoint
    log = (tmp_path / "lm_count.py.log").read_text().splitlines()
    assert [int(line.split()[0]) for line in log] == sorted({int(x.split()[0]) for x in log})


def test_operators_grant_admin_and_check_the_chain_from_the_cli(
    tmp_path: Path, runtimes: Callable[..., Runtime]
) -> None:
    rt = _seed(tmp_path, runtimes, users=2)
    env = _env(tmp_path / "var")
    granted = CliRunner().invoke(main, ["users", "grant-admin", "u1@example.com"], env=env)
    assert granted.exit_code == 0, granted.output
    role = [r.decode() for r in rt.store.read_all() if r.topic == "identity.RoleGranted"]
    assert len(role) == 1 and (role[0].meta.actor_id or "").startswith("operator:")
    unknown = CliRunner().invoke(main, ["users", "grant-admin", "nobody@example.com"], env=env)
    assert unknown.exit_code != 0 and "no such account" in unknown.output

    rt.start_projectors(["audit_chain"])
    deadline = time.monotonic() + 20
    while rt.read_models.applied_everywhere("audit_chain", None) < rt.store.max_position():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    verified = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output)["ok"] is True

    shown = CliRunner().invoke(main, ["aggregate", "show", str(role[0].meta.aggregate_id),
                                      "--version", "1"], env=env)  # fmt: skip
    assert shown.exit_code == 0, shown.output
    state = json.loads(shown.output)
    assert state["type"] == "Account" and state["version"] == 1 and state["state"]["roles"] == []
    trail = CliRunner().invoke(main, ["audit", "trail", "u1@example.com"], env=env)
    assert "identity.RoleGranted" in trail.output


def test_rebuild_all_rebuilds_every_projection_in_parallel_processes(
    tmp_path: Path, runtimes: Callable[..., Runtime]
) -> None:
    rt = _seed(tmp_path, runtimes, users=2)
    before = {u: get_account(rt.read_models, u) for u in _user_ids(rt)}
    result = CliRunner().invoke(main, ["projections", "rebuild", "all"], env=_env(tmp_path / "var"))
    assert result.exit_code == 0, result.output
    rebuilt = json.loads(result.output)["rebuilt"]
    assert {r["projection"] for r in rebuilt} == {p.name for p in PROJECTIONS}
    assert all(rt.read_models.active_version(r["projection"], fresh=True) == 2 for r in rebuilt)
    assert {u: get_account(rt.read_models, u) for u in _user_ids(rt)} == before
    recorded = [r.topic for r in rt.store.read_all() if r.topic == "operations.ProjectionRebuilt"]
    assert len(recorded) == len(PROJECTIONS)


def _health(tmp_path: Path, role: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["health", "--role", role], env=_env(tmp_path / "var"))
    report = json.loads(result.output)
    assert (result.exit_code == 0) == (report["status"] == "UP")
    return report  # type: ignore[no-any-return]


def test_role_health_needs_a_live_process_with_no_crashing_thread(
    tmp_path: Path, runtimes: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    from app import cli

    assert "not running" in _health(tmp_path, "policies")["problems"][0]
    role = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "policies"],
        env={**os.environ, **_env(tmp_path / "var")},
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        beat = cli.heartbeat_path(make_settings(tmp_path / "var"), "policies")
        deadline = time.monotonic() + 60
        while not beat.exists():
            assert time.monotonic() < deadline and role.poll() is None, "no heartbeat written"
            time.sleep(0.2)
        assert _health(tmp_path, "policies")["problems"] == []
        role.kill()  # SIGKILL: the heartbeat stays behind and goes stale
        role.wait()
        monkeypatch.setattr(cli, "HEARTBEAT_STALE_SECONDS", 0.1)
        time.sleep(0.3)
        assert "hangs" in _health(tmp_path, "policies")["problems"][0]
    finally:
        role.kill()
    # A background thread that keeps crashing makes its role unhealthy.
    rt = runtimes(make_settings(tmp_path / "var"))

    def boom(_: object) -> None:
        raise RuntimeError("cannot reach the broker")

    rt.spawn("relay", boom)
    while "relay" not in rt.crashed_at:
        time.sleep(0.05)
    beat.write_text(json.dumps(rt.heartbeat()))
    assert any("crashed" in p for p in _health(tmp_path, "policies")["problems"])

"""``languagemate demo seed``: a small platform seeded through the CLI into a real store, then
looked at as its learners see it, over the HTTP API; the same seed gives the same platform;
bad arguments and a second run change nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.app import create_app
from app.cli import main
from app.runtime import Runtime
from devservices.settings import make_settings
from domain.identity import AccountRegistered
from domain.level_tests import LevelAssessed
from domain.matching import MatchRequestAccepted
from domain.profiles import NativeLanguageSet, TargetLanguagesSet
from eventflow.store import open_event_store
from projections.platform_metrics import metrics
from tests.integration.test_cli import _env
from tests.integration.test_cli_progress import TIME_LEFT, _on_a_terminal, _summary

USERS, DAYS = 12, 5
LANGUAGE_EVENTS = (NativeLanguageSet, TargetLanguagesSet)


def _seed(data_dir: Path, *args: str) -> dict[str, Any]:
    """Run ``demo seed`` as a script would; its one-line JSON summary."""
    result = CliRunner().invoke(main, ["demo", "seed", *args], env=_env(data_dir))
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "%|" not in result.output, result.output  # no bar in a pipe
    summary: dict[str, Any] = json.loads(lines[0])
    assert summary["seconds"] > 0 and summary["rate"] > 0, summary
    return summary


def _events(data_dir: Path) -> list[Any]:
    store = open_event_store(make_settings(data_dir))
    try:
        return [record.decode() for record in store.read_all(0)]
    finally:
        store.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("demo") / "var"
    args = ("--users", str(USERS), "--days", str(DAYS), "--seed", "7")
    return data_dir, _seed(data_dir, *args)


@pytest.fixture
def learners(
    seeded: tuple[Path, dict[str, Any]], runtimes: Callable[..., Runtime]
) -> dict[str, dict[str, Any]]:
    """Every seeded learner's views, read over HTTP after a dev login as them."""
    data_dir, _ = seeded
    registered = [e for e in _events(data_dir) if isinstance(e, AccountRegistered)]
    rt = runtimes(make_settings(data_dir))
    rt.start_projectors(kafka=False)
    views: dict[str, dict[str, Any]] = {}
    with TestClient(create_app(rt)) as client:
        for account in registered:
            login = client.post("/api/v1/auth/dev-login",
                                json={"email": account.email, "name": account.name})  # fmt: skip
            data = login.json()["data"]
            headers = {"Authorization": f"Bearer {data['accessToken']}"}

            def get(path: str, headers: dict[str, str] = headers) -> Any:
                response = client.get(path, headers=headers)
                assert response.status_code == 200, (path, response.text)
                return response.json()

            rooms = get("/api/v1/chat/rooms")["data"]
            views[account.email] = {
                "room_types": {r["roomType"] for r in rooms if r["lastMessage"]},
                "profile": get("/api/v1/users/profile")["data"],
                "onboarding": get(f"/api/v1/onboarding/{data['user']['id']}/summary")["data"],
                "tests": get("/api/v1/level-test/my-tests")["data"],
                "matches": get("/api/v1/matching/matches")["data"],
                "messages": [m for r in rooms
                             for m in get(f"/api/v1/chat/rooms/{r['roomId']}/messages")["data"]],
                "sessions": get("/api/v1/sessions/my-sessions")["data"],
                "groups": get("/api/v1/group-sessions/my")["data"],
                "achievements": get("/api/v1/achievements/my/completed")["data"],
                "dashboard": get("/api/v1/analytics/dashboard"),
            }  # fmt: skip
    return views


def test_seeded_learners_live_a_whole_platform_life(
    seeded: tuple[Path, dict[str, Any]], learners: dict[str, dict[str, Any]]
) -> None:
    _, summary = seeded
    assert (summary["users"], summary["days"], summary["onboarded"]) == (USERS, DAYS, USERS)
    assert len(learners) == USERS
    assert all(v["onboarding"]["onboardingCompleted"] for v in learners.values())
    pairs = {(v["profile"]["nativeLanguage"]["code"], v["profile"]["targetLanguages"][0]["code"])
             for v in learners.values()}  # fmt: skip
    assert len(pairs) >= 4, pairs
    assert len({v["profile"]["languageLevel"] for v in learners.values()}) >= 3

    tests = [t for v in learners.values() for t in v["tests"]]
    assert tests and all(t["status"] == "completed" for t in tests)
    assert len({t["level"] for t in tests}) >= 3, [t["level"] for t in tests]
    assert sum(1 for v in learners.values() if v["matches"]) >= USERS // 2
    assert sum(len(v["messages"]) for v in learners.values()) >= 20
    assert {"DIRECT", "GROUP"} <= {t for v in learners.values() for t in v["room_types"]}
    one_to_one = [s for v in learners.values() for s in v["sessions"]]
    assert {"completed", "scheduled"} <= {s["status"] for s in one_to_one}
    groups = [g for v in learners.values() for g in v["groups"]]
    assert any(g["status"] == "ended" and g["currentParticipants"] >= 2 for g in groups)
    keys = {a["achievementKey"] for v in learners.values() for a in v["achievements"]}
    assert "first_session" in keys and len(keys) >= 2, keys
    dashboards = [v["dashboard"] for v in learners.values()]
    assert sum(d["totalSessions"] for d in dashboards) > 0
    assert sum(d["messagesSent"] for d in dashboards) > 0
    assert sum(len(d["levelTests"]) for d in dashboards) == len(tests)
    assert sum(len(d["matchingEvents"]) for d in dashboards) > 0


def test_history_is_spread_over_the_simulated_days(seeded: tuple[Path, dict[str, Any]]) -> None:
    data_dir, summary = seeded
    events = _events(data_dir)
    assert len(events) >= summary["events"]
    seeding = events[: summary["events"]]
    today = datetime.now(UTC).date()
    days = {e.meta.occurred_at.astimezone(UTC).date() for e in seeding}
    assert days == {today - timedelta(days=n) for n in range(1, DAYS + 1)}


def test_the_operations_dashboard_charts_the_seeded_days(
    seeded: tuple[Path, dict[str, Any]], runtimes: Callable[..., Runtime]
) -> None:
    data_dir, _ = seeded
    rt = runtimes(make_settings(data_dir))
    rt.catch_up()
    today = datetime.now(UTC).date()
    data = metrics(rt.read_models, today - timedelta(days=DAYS), today, "day")
    totals = data["totals"]
    assert (totals["signups"], totals["onboardingCompleted"]) == (USERS, USERS)
    assert all(totals[k] > 0 for k in ("matchesAccepted", "messages", "sessions", "levelTests"))
    by_day = {row["period"]: row for row in data["series"]}
    assert by_day[today.isoformat()]["signups"] == 0  # history, all of it before today
    assert sum(1 for row in by_day.values() if row["messages"]) >= 3
    assert len(data["cefrDistribution"]) >= 3 and len(data["languagePairs"]) >= 4, data


def _platform(data_dir: Path) -> dict[str, Any]:
    """Who the learners are, their languages, measured levels and matches, by user id."""
    events = _events(data_dir)
    return {
        "users": sorted((e.aggregate_id, e.email, e.name)
                        for e in events if isinstance(e, AccountRegistered)),
        "languages": sorted((e.user_id, e.topic, repr(e.payload()))
                            for e in events if isinstance(e, LANGUAGE_EVENTS)),
        "levels": sorted((e.user_id, e.level, e.overall)
                         for e in events if isinstance(e, LevelAssessed)),
        "matches": sorted((e.sender_id, e.receiver_id)
                          for e in events if isinstance(e, MatchRequestAccepted)),
    }  # fmt: skip


def test_the_same_seed_gives_the_same_platform(tmp_path: Path) -> None:
    args = ("--users", "8", "--days", "3")
    _seed(tmp_path / "a", *args, "--seed", "3")
    _seed(tmp_path / "b", *args, "--seed", "3")
    _seed(tmp_path / "c", *args, "--seed", "4")
    first, again, other = (_platform(tmp_path / name) for name in "abc")
    assert first["levels"] and first["matches"]
    assert first == again
    assert other != first


@pytest.mark.parametrize(
    ("args", "named"),
    [(("--users", "0"), "--users"), (("--days", "-2"), "--days"), (("--days", "0"), "--days")],
)
def test_bad_arguments_are_refused_before_anything_is_written(
    tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    result = CliRunner().invoke(main, ["demo", "seed", *args], env=_env(tmp_path / "var"))
    assert result.exit_code == 2 and named in result.output, result.output
    assert not (tmp_path / "var").exists()


def test_a_seeded_store_is_not_seeded_again(seeded: tuple[Path, dict[str, Any]]) -> None:
    data_dir, _ = seeded
    before = len(_events(data_dir))
    result = CliRunner().invoke(main, ["demo", "seed", "--users", "4", "--days", "2"],
                                env=_env(data_dir))  # fmt: skip
    assert result.exit_code == 1
    assert "builds a platform from nothing" in result.output, result.output
    assert len(_events(data_dir)) == before


def test_a_terminal_shows_the_days_go_by(tmp_path: Path) -> None:
    shown = _on_a_terminal(["demo", "seed", "--users", "4", "--days", "2"], _env(tmp_path / "var"))
    bar = TIME_LEFT.search(shown)
    assert "seeding: 100%|" in shown and bar is not None and "days" in bar.group(0), shown
    assert _summary(shown)["users"] == 4

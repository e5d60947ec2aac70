"""Platform metrics equal counts computed independently from the raw events of a seeded
history, for day and week grouping, and bad ranges are refused."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from app.runtime import Runtime
from commands.base import CommandContext
from commands.chat import PostMessage, post_message
from commands.identity import set_role
from commands.level_tests import (
    record_answer,
    record_assessment,
    record_transcript,
    request_analysis,
    start_test,
)
from domain.chat import direct_room_id
from projections.platform_metrics import platform
from tests.support import signed_in_learner
from workers import cefr_scorer

ANSWER = (
    "I live in Seoul with my sister. Although the city is crowded, I like it because there "
    "are many museums, and the subway is convenient. On weekends we usually go hiking."
)


def _assess(rt: Runtime, user_id: str) -> None:
    ctx = CommandContext(actor_id=user_id)
    test_id = start_test(rt.bus, ctx, user_id=user_id, language="en",
                         mode="voice").result["test_id"]  # fmt: skip
    key = f"level-tests/{test_id}/a"
    record_answer(rt.bus, ctx, user_id=user_id, test_id=test_id, question_id=None, recording=key,
                  media_type="audio/wav", duration=30.0, size=10)  # fmt: skip
    record_transcript(rt.bus, ctx, test_id, question_id=1, recording=key, text=ANSWER, words="[]",
                      language="en", duration=30.0, model="m", model_version="v")  # fmt: skip
    request_analysis(rt.bus, ctx, user_id=user_id, test_id=test_id)
    result = cefr_scorer.assess([cefr_scorer.Answer("Where do you live?", ANSWER, [])], "en")
    result["model_versions"] = {"asr": "v"}
    record_assessment(rt.bus, CommandContext(actor_id="worker.leveltest"), test_id, result)


def _seed(client: TestClient, rt: Runtime) -> None:
    users = [signed_in_learner(client, n, native=1 + i % 2, target=2 - i % 2)
             for i, n in enumerate(["Mina", "Jun", "Ara", "Tae"])]  # fmt: skip
    mina, jun, ara, _ = users
    requests = [
        client.post("/api/v1/matching/request", json={"targetUserId": jun["id"]},
                    headers=sender["headers"]).json()["data"]["requestId"]
        for sender in (mina, ara)
    ]  # fmt: skip
    assert client.post(f"/api/v1/matching/accept/{requests[0]}", json={},
                       headers=jun["headers"]).status_code == 200  # fmt: skip
    partner = mina
    room = direct_room_id(partner["id"], jun["id"])
    deadline = time.monotonic() + 20
    while "chat.ChatRoomCreated" not in {r.topic for r in rt.store.read_all()}:
        assert time.monotonic() < deadline, "the match's room never opened"
        time.sleep(0.05)
    for text, who in (("hi", partner), ("hello", jun), ("how are you", partner)):
        post_message(rt.bus, CommandContext(actor_id=who["id"]), sender_id=who["id"],
                     command=PostMessage(roomId=room, message=text))  # fmt: skip
    _assess(rt, mina["id"])
    _assess(rt, jun["id"])


def _expected(rt: Runtime) -> dict[str, Any]:
    """The same metrics, counted straight from the stored events."""
    counts: Counter[str] = Counter()
    active: set[str] = set()
    levels: Counter[str] = Counter()
    for record in rt.store.read_all():
        document = record.document()
        data, meta = document["data"], document["meta"]
        topic = record.topic
        if topic == "identity.AccountRegistered":
            counts["signups"] += 1
            active.add(str(record.aggregate_id))
        elif topic == "matching.MatchRequested":
            counts["matchRequests"] += 1
            active.add(data["sender_id"])
        elif topic == "matching.MatchRequestAccepted":
            counts["matchesAccepted"] += 1
            active.add(meta["actor_id"])
        elif topic == "chat.ChatMessagePosted":
            counts["messages"] += 1
            active.add(data["sender_id"])
        elif topic == "leveltest.LevelAssessed":
            counts["levelTests"] += 1
            levels[data["level"]] += 1
        elif topic == "profiles.OnboardingCompleted":
            counts["onboardingCompleted"] += 1
    return {"totals": {**counts, "activeUsers": len(active)}, "levels": dict(levels)}


def test_metrics_match_counts_taken_from_the_raw_events(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    _seed(client, rt)
    boss = signed_in_learner(client, "Boss")
    set_role(rt.bus, CommandContext(actor_id="operator:test"), pepper=rt.pepper,
             email="boss@example.com", role="admin", granted=True)  # fmt: skip
    partitions = rt.settings.kafka_partitions if rt.uses_kafka else None
    head = rt.store.max_position()
    deadline = time.monotonic() + 30
    while rt.read_models.applied_everywhere(platform.name, partitions) < head:
        assert time.monotonic() < deadline, "the metrics never caught up"
        time.sleep(0.1)
    expected = _expected(rt)
    today = datetime.now(UTC).date().isoformat()
    for group in ("day", "week", "month"):
        response = client.get("/api/v1/admin/metrics", headers=boss["headers"],
                              params={"from": today, "to": today, "groupBy": group})  # fmt: skip
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        totals = {k: v for k, v in data["totals"].items() if v}
        assert totals == {k: v for k, v in expected["totals"].items() if v}, group
        assert data["cefrDistribution"] == expected["levels"]
        assert len(data["series"]) == 1 and data["series"][0]["signups"] == totals["signups"]
    assert data["acceptanceRate"] == round(1 / 2, 4)
    assert data["onboardingFunnel"]["signedUp"] == expected["totals"]["signups"]
    pairs = {(p["native"], p["target"]): p["learners"] for p in data["languagePairs"]}
    assert pairs[(1, 2)] >= 2 and pairs[(2, 1)] == 2
    refused = client.get("/api/v1/admin/metrics", headers=boss["headers"],
                         params={"from": "2026-02-01", "to": "2026-01-01"})  # fmt: skip
    assert refused.status_code == 422
    assert client.get("/api/v1/admin/metrics", params={"groupBy": "year"},
                      headers=boss["headers"]).status_code == 422  # fmt: skip

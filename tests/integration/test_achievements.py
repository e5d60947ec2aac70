"""Achievements through the API: derived on the server from what happened (a match, a
completed session), unlocked and announced once even when the source event comes twice,
claimed once by their owner only; progress a client reports changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from app.runtime import Runtime
from commands.achievements import count_session
from commands.base import CommandContext
from domain.achievements import AchievementUnlocked
from domain.notifications import NotificationCreated
from domain.sessions import SessionCompleted
from eventflow.schema import LOG
from policies.achievements import tracker
from tests.learning_history import completed_session, data, eventually, matched_pair
from tests.support import appended_by_requests, signed_in_learner


def _mine(client: TestClient, user: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["achievementKey"]: i for i in data(client, "/api/v1/achievements/my", user)}


def _announced(client: TestClient, user: dict[str, Any]) -> list[dict[str, Any]]:
    inbox = data(client, "/api/v1/notifications?size=50", user)["notifications"]
    return [n for n in inbox if n["type"] == "achievement"]


def _topics(rt: Runtime, topic: str) -> list[Any]:
    return [r.decode() for r in rt.store.read_all() if r.topic == topic]


def test_achievements_unlock_once_from_events_and_are_announced_once(
    client: TestClient,
) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    mina, jun, _ = matched_pair(client)
    quiet = client.patch("/api/v1/settings/notifications", json={"pushAchievements": False},
                         headers=jun["headers"])  # fmt: skip
    assert quiet.status_code == 200, quiet.text
    session_id = completed_session(rt, mina["id"], jun["id"],
                                   datetime.now(UTC) - timedelta(hours=2), 30)  # fmt: skip

    announced = eventually(lambda: _announced(client, mina), lambda n: len(n) == 2,
                           "Mina's two unlock notifications")  # fmt: skip
    assert {n["data"]["achievement"] for n in announced} == {"first_friend", "first_session"}
    first = next(n for n in announced if n["data"]["achievement"] == "first_session")
    assert (first["category"], first["clickUrl"]) == ("ACHIEVEMENT", "/achievements")
    assert first["title"] == "업적 달성" and "첫 세션 완료" in first["message"]

    # The session's completion is delivered again, through the policy group (its tracking
    # is past it) and as a bare command: nothing is unlocked or announced a second time.
    def minas() -> tuple[list[str], list[str]]:
        """Mina's unlocks and unlock notifications in the store (Jun's may still come)."""
        unlocked = [e.key for e in _topics(rt, AchievementUnlocked.topic)
                    if e.user_id == mina["id"]]  # fmt: skip
        notified = [e.data["achievement"] for e in _topics(rt, NotificationCreated.topic)
                    if e.recipient_id == mina["id"] and e.kind == "achievement"]  # fmt: skip
        return unlocked, notified

    assert minas() == (["first_friend", "first_session"], ["first_friend", "first_session"])
    completed = next(r for r in rt.store.read_all() if r.topic == SessionCompleted.topic)
    group = next(g for g in rt.policy_groups() if tracker.name in g.members())
    eventually(lambda: rt.reacted_upto(group.name), lambda upto: upto >= completed.position,
               "the policies reacted to the session")  # fmt: skip
    head = rt.store.max_position()
    group.apply(LOG, [completed], 0)
    group.apply(LOG, [completed], 0)
    assert rt.store.max_position() == head
    again = count_session(rt.bus, CommandContext(actor_id="tester"), user_id=mina["id"],
                          session_id=session_id, minutes=30,
                          day=datetime.now(UTC).date())  # fmt: skip
    assert again.positions == []
    assert minas() == (["first_friend", "first_session"], ["first_friend", "first_session"])

    mine = eventually(lambda: _mine(client, mina),
                      lambda m: m["study_hours_100"]["currentProgress"] == 30,
                      "Mina's progress read model")  # fmt: skip
    done = mine["first_session"]
    assert (done["currentProgress"], done["targetValue"]) == (1, 1)
    assert done["progressPercentage"] == 100.0 and done["isCompleted"] and done["completedAt"]
    assert {"id", "title", "name", "description", "category", "tier", "xpReward",
            "badgeColor"} <= set(done["achievement"])  # fmt: skip
    assert (mine["session_10"]["currentProgress"], mine["session_10"]["progressPercentage"]) == (
        1, 10.0)  # fmt: skip
    assert mine["study_hours_10"]["currentProgress"] == 30
    # Jun turned achievement notifications off: unlocked all the same, not announced.
    assert eventually(lambda: _mine(client, jun)["first_session"]["isCompleted"], bool,
                      "Jun's first session")  # fmt: skip
    assert "first_session" not in {n["data"]["achievement"] for n in _announced(client, jun)}


def test_statistics_and_claims_belong_to_their_owner(client: TestClient) -> None:
    mina, jun, _ = matched_pair(client)
    stats = eventually(lambda: data(client, "/api/v1/achievements/my/stats", mina),
                       lambda s: s["inProgressAchievements"] == 1,
                       "Mina's first partner")  # fmt: skip
    friend = _mine(client, mina)["first_friend"]
    assert (stats["totalAchievements"], stats["completedAchievements"],
            stats["inProgressAchievements"], stats["unclaimedRewards"], stats["totalXpEarned"],
            stats["completionRate"]) == (14, 1, 1, 1, 0, 7.1)  # fmt: skip
    assert stats["achievementsByCategory"]["SOCIAL"] == {"total": 2, "completed": 1}
    assert [r["achievementKey"] for r in stats["recentCompletions"]] == ["first_friend"]
    assert stats["nearCompletion"] == []

    claim = f"/api/v1/achievements/{friend['id']}/claim-reward"
    claimed = client.post(claim, headers=mina["headers"])
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["data"]["isRewardClaimed"] is True
    twice = client.post(claim, headers=mina["headers"])
    assert twice.status_code == 409 and twice.json()["code"] == "ACHIEVEMENT_ALREADY_CLAIMED"
    early = client.post(f"/api/v1/achievements/{_mine(client, mina)['friends_5']['id']}"
                        "/claim-reward", headers=mina["headers"])  # fmt: skip
    assert early.status_code == 409 and early.json()["code"] == "ACHIEVEMENT_NOT_COMPLETED"
    for other in (claim, "/api/v1/achievements/not-an-achievement/claim-reward"):
        stolen = client.post(other, headers=jun["headers"])
        assert stolen.status_code == 404 and stolen.json()["code"] == "ACHIEVEMENT_NOT_FOUND"
    after = data(client, "/api/v1/achievements/my/stats", mina)
    assert (after["totalXpEarned"], after["unclaimedRewards"]) == (200, 0)
    assert client.get("/api/v1/achievements/my", headers=mina["headers"]).json()[
        "totalPoints"] == 200  # fmt: skip
    completed = data(client, "/api/v1/achievements/my/completed", mina)
    assert [i["achievementKey"] for i in completed] == ["first_friend"]
    assert [i["achievementKey"] for i in data(client, "/api/v1/achievements/my/in-progress",
                                              mina)] == ["friends_5"]  # fmt: skip
    assert not _mine(client, jun)["first_friend"]["isRewardClaimed"]


def test_progress_reported_by_a_client_changes_nothing(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    for path in ("", "/my", "/my/stats", "/category/STUDY"):
        assert client.get(f"/api/v1/achievements{path}").status_code == 401, path
    assert client.post("/api/v1/achievements/x/claim-reward").status_code == 401
    assert client.post("/api/v1/achievements/progress", json={}).status_code == 401
    sora = signed_in_learner(client, "Sora")
    before = rt.store.max_position()
    reports = [
        ("/progress", {"achievementKey": "first_session", "progress": 1}),
        ("/progress/increment?achievementKey=session_10&increment=10", {}),
        ("/initialize", {}),
        ("/check-completion", {}),
    ]
    for path, body in reports:
        refused = client.post(f"/api/v1/achievements{path}", json=body, headers=sora["headers"])
        assert refused.status_code == 410, path
        assert refused.json()["code"] == "ACHIEVEMENT_PROGRESS_IS_DERIVED"
    assert appended_by_requests(rt.store, before) == []
    mine = _mine(client, sora)
    assert len(mine) == 14
    assert all(i["currentProgress"] == 0 and not i["isCompleted"] for i in mine.values())
    definitions = data(client, "/api/v1/achievements", sora)
    assert [d["key"] for d in definitions][:3] == ["first_session", "session_10", "session_50"]
    assert {d["key"] for d in data(client, "/api/v1/achievements/category/social", sora)} == {
        "first_friend", "friends_5"}  # fmt: skip
    unknown = client.get("/api/v1/achievements/category/SPECIAL", headers=sora["headers"])
    assert unknown.status_code == 422 and unknown.json()["code"] == "UNKNOWN_CATEGORY"

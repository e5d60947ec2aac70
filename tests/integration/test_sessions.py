"""Sessions through the API: scheduling with a matched partner, answering, moving, calls,
no-shows and reminders from the scheduler, the calendar in the user's zone, statistics,
and group sessions with their seat and level rules."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from app.runtime import Runtime
from domain.sessions import SessionMissed, SessionReminded
from policies.schedules import run_due
from tests.support import matched_learners, signed_in_learner


def _kinds(client: TestClient, user: dict[str, Any]) -> list[str]:
    inbox = client.get("/api/v1/notifications", headers=user["headers"]).json()["data"]
    return [n["type"] for n in inbox["notifications"]]


def _schedule(client: TestClient, user: dict[str, Any], partner: dict[str, Any],
              starts: datetime, duration: int = 30) -> Any:  # fmt: skip
    return client.post("/api/v1/sessions", headers=user["headers"], json={
        "partnerId": partner["id"], "scheduledAt": starts.isoformat(), "duration": duration,
        "language": "en", "type": "video", "title": "Coffee chat"})  # fmt: skip


def test_a_session_is_proposed_answered_moved_and_held_in_both_agendas(
    client: TestClient,
) -> None:
    mina, jun, _ = matched_learners(client)
    stranger = signed_in_learner(client, "Stranger")
    starts = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    refused = _schedule(client, mina, stranger, starts)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "SESSION_NOT_MATCHED"

    created = _schedule(client, mina, jun, starts)
    assert created.status_code == 200, created.text
    session = created.json()["data"]
    assert session["status"] == "pending" and session["partnerName"] == "Jun"
    sid = session["id"]
    # The same slot cannot be booked twice by either partner, whoever asks.
    clash = _schedule(client, jun, mina, starts + timedelta(minutes=15))
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "SESSION_OVERLAP"
    assert client.post(f"/api/v1/sessions/{sid}/accept",
                       headers=mina["headers"]).status_code == 403  # fmt: skip
    accepted = client.post(f"/api/v1/sessions/{sid}/accept", headers=jun["headers"])
    assert accepted.json()["data"]["status"] == "scheduled"

    moved = client.patch(f"/api/v1/sessions/{sid}/reschedule", headers=jun["headers"],
                         json={"scheduledAt": (starts + timedelta(hours=3)).isoformat(),
                               "durationMinutes": 45})  # fmt: skip
    view = moved.json()["data"]
    assert view["status"] == "pending" and view["awaitingMyAnswer"] is False
    # The old slot is free again.
    assert _schedule(client, jun, mina, starts).status_code == 200
    mine = client.get("/api/v1/sessions/my-sessions?page=0&size=50", headers=mina["headers"])
    assert [s["status"] for s in mine.json()["data"]] == ["pending", "pending"]
    assert client.get(f"/api/v1/sessions/{sid}", headers=stranger["headers"]).status_code == 404
    cancelled = client.post(f"/api/v1/sessions/{sid}/cancel", headers=mina["headers"])
    assert cancelled.json()["data"]["status"] == "cancelled"
    again = client.post(f"/api/v1/sessions/{sid}/accept", headers=mina["headers"])
    assert again.status_code == 409


def test_a_call_counts_in_the_stats_and_the_streak_includes_today(client: TestClient) -> None:
    mina, jun, _ = matched_learners(client)
    starts = datetime.now(UTC) + timedelta(minutes=6)
    sid = _schedule(client, mina, jun, starts).json()["data"]["id"]
    client.post(f"/api/v1/sessions/{sid}/accept", headers=jun["headers"])
    started = client.post(f"/api/v1/sessions/{sid}/start", headers=mina["headers"])
    assert started.json()["data"]["status"] == "in_progress"
    ended = client.post(f"/api/v1/sessions/{sid}/end", headers=jun["headers"])
    assert ended.json()["data"]["status"] == "completed"
    stats = client.get("/api/v1/sessions/stats?period=week", headers=mina["headers"]).json()
    assert stats["data"]["completedSessions"] == 1 and stats["data"]["streakDays"] == 1
    assert stats["data"]["totalMinutes"] == 1 and stats["data"]["partnersCount"] == 1
    assert stats["metrics"] == stats["data"]


def test_the_scheduler_reminds_both_partners_and_closes_missed_sessions(
    client: TestClient,
) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    mina, jun, _ = matched_learners(client)
    starts = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    sid = _schedule(client, mina, jun, starts).json()["data"]["id"]
    client.post(f"/api/v1/sessions/{sid}/accept", headers=jun["headers"])
    run_due(rt.bus, rt.read_models, starts - timedelta(minutes=20))
    run_due(rt.bus, rt.read_models, starts - timedelta(minutes=19))  # once only
    topics = [r.topic for r in rt.store.read_all()]
    assert topics.count(SessionReminded.topic) == 1
    for user in (mina, jun):
        deadline = time.monotonic() + 20
        while "session_reminder" not in _kinds(client, user):
            assert time.monotonic() < deadline, "no reminder notification"
            time.sleep(0.05)
    run_due(rt.bus, rt.read_models, starts + timedelta(minutes=16))
    deadline = time.monotonic() + 20
    while client.get(f"/api/v1/sessions/{sid}", headers=mina["headers"]).json()["data"][
        "status"] != "no_show":  # fmt: skip
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [r.topic for r in rt.store.read_all()].count(SessionMissed.topic) == 1


def test_the_calendar_reads_dates_in_the_users_zone(client: TestClient) -> None:
    mina, jun, _ = matched_learners(client)
    client.post("/api/v1/users/location", json={"locationId": 1}, headers=mina["headers"])
    zone = client.get("/api/v1/sessions/calendar?startDate=2030-01-01&endDate=2030-01-02",
                      headers=mina["headers"]).json()["data"]["timeZone"]  # fmt: skip
    starts = (datetime.now(UTC) + timedelta(days=3)).replace(hour=15, minute=0, second=0,
                                                             microsecond=0)  # fmt: skip
    sid = _schedule(client, mina, jun, starts).json()["data"]["id"]
    day = starts.date().isoformat()
    found = client.get(f"/api/v1/sessions/calendar?startDate={day}&endDate={day}T23:59:59Z",
                       headers=mina["headers"]).json()  # fmt: skip
    assert found["success"] is True
    assert [e["sessionId"] for e in found["data"]["events"]] == [sid]
    assert zone in ("Asia/Seoul", "UTC")
    bad = client.get("/api/v1/sessions/calendar?startDate=2030-01-02&endDate=2030-01-01",
                     headers=mina["headers"])  # fmt: skip
    assert bad.status_code == 422


def test_group_sessions_keep_their_seats_and_level_range(client: TestClient) -> None:
    host = signed_in_learner(client, "Host", native=2, target=1)
    created = client.post("/api/v1/group-sessions", headers=host["headers"], json={
        "title": "Cafe English", "topicCategory": "food", "targetLanguage": "en",
        "levelMin": "A2", "levelMax": "B2", "maxParticipants": 3,
        "scheduledAt": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "sessionDuration": 60})  # fmt: skip
    assert created.status_code == 200, created.text
    gid = created.json()["data"]["id"]
    learners = [signed_in_learner(client, f"Learner{n}", native=1, target=2) for n in range(3)]
    advanced = signed_in_learner(client, "Advanced", native=3, target=2)
    client.post("/api/v1/onboarding/language/language-level", headers=advanced["headers"],
                json={"languages": [{"languageId": 2, "currentLevelId": 105,
                                     "targetLevelId": 105}]})  # fmt: skip
    too_good = client.post(f"/api/v1/group-sessions/{gid}/join", headers=advanced["headers"])
    assert too_good.status_code == 422
    assert too_good.json()["error"]["code"] == "SESSION_LEVEL_MISMATCH"
    client.post(f"/api/v1/group-sessions/{gid}/join", headers=learners[0]["headers"])
    # Two learners race for the last seat: one gets it.
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def take(user: dict[str, Any]) -> None:
        barrier.wait()
        statuses.append(client.post(f"/api/v1/group-sessions/{gid}/join",
                                    headers=user["headers"]).status_code)  # fmt: skip

    racers = [threading.Thread(target=take, args=(u,)) for u in learners[1:]]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(statuses) == [200, 409]
    detail = client.get(f"/api/v1/group-sessions/{gid}", headers=host["headers"]).json()["data"]
    assert detail["currentParticipants"] == 3 and detail["roomId"]
    outsider_view = client.get(f"/api/v1/group-sessions/{gid}", headers=advanced["headers"])
    assert outsider_view.json()["data"]["roomId"] is None  # the room is for members
    kicked = client.post(f"/api/v1/group-sessions/{gid}/kick/{learners[0]['id']}",
                         headers=learners[1]["headers"])  # fmt: skip
    assert kicked.status_code == 403
    client.post(f"/api/v1/group-sessions/{gid}/kick/{learners[0]['id']}", headers=host["headers"])
    rejoin = client.post(f"/api/v1/group-sessions/{gid}/join", headers=learners[0]["headers"])
    assert rejoin.status_code == 403
    listed = client.get("/api/v1/group-sessions?language=en", headers=advanced["headers"])
    assert [g["id"] for g in listed.json()["data"]] == [gid]

"""Learning analytics through the API: a seeded history (sessions, messages, level tests)
reads back as the numbers worked out by hand, days and streaks are the learner's own, and
bad or unauthenticated requests are refused."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from app.runtime import Runtime
from tests.learning_history import (
    assessed,
    completed_session,
    data,
    eventually,
    matched_pair,
    messages_sent,
)

SEOUL = ZoneInfo("Asia/Seoul")
ENGLISH = {"Accept-Language": "en"}


def _in_seoul(client: TestClient, user: dict[str, Any]) -> None:
    moved = client.post("/api/v1/users/location", json={"locationId": 1}, headers=user["headers"])
    assert moved.status_code == 200, moved.text


def _local(today: date, days_ago: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(today - timedelta(days=days_ago), time(hour, minute), SEOUL)


def test_a_seeded_history_reads_as_the_numbers_worked_out_by_hand(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    mina, jun, room = matched_pair(client)
    _in_seoul(client, mina)
    today = datetime.now(SEOUL).date()
    for days_ago, hour, minutes, kind in ((9, 20, 30, "VIDEO"), (8, 20, 45, "AUDIO"),
                                          (2, 9, 20, "VIDEO"), (1, 21, 25, "VIDEO")):  # fmt: skip
        completed_session(rt, mina["id"], jun["id"], _local(today, days_ago, hour), minutes,
                          kind=kind)  # fmt: skip
    messages_sent(rt, mina["id"], room, _local(today, 3, 23, 50), 2)
    messages_sent(rt, mina["id"], room, _local(today, 1, 10), 3)
    assessed(rt, mina["id"], _local(today, 20, 12), "A2", {"fluency": 40, "grammar": 40})
    assessed(rt, mina["id"], _local(today, 5, 12), "B1", {"fluency": 62, "grammar": 38},
             strong=("fluency",), weak=("grammar",))  # fmt: skip

    body = eventually(
        lambda: client.get("/api/v1/analytics/dashboard", headers=mina["headers"]).json(),
        lambda b: b["data"]["messagesSent"] == 5 and len(b["data"]["levelTests"]) == 2
        and b["data"]["totalSessions"] == 4 and len(b["matchingEvents"]) == 2,
        "the dashboard")  # fmt: skip
    board = body["data"]
    assert (board["totalMinutes"], board["totalHours"], board["partnersCount"]) == (120, 2.0, 1)
    # Sessions yesterday and the day before (today has none yet: a day's grace).
    assert (board["currentStreak"], board["longestStreak"]) == (2, 2)
    assert board["weeklyActiveDays"] == 3  # messages 3 days ago, sessions 2 and 1 days ago
    tests = body["levelTests"]  # the charts read it at the top level
    assert [(t["level"], t["levelIndex"], t["overallScore"]) for t in tests] == [
        ("A2", 1, 40), ("B1", 2, 50)]  # fmt: skip
    assert tests[1]["scores"] == {"fluency": 62, "grammar": 38}
    assert [m["type"] for m in body["matchingEvents"]] == ["accepted", "requested"]
    recent = board["recentActivity"]  # newest first: today's match, yesterday's session
    assert [(a["type"], a.get("minutes")) for a in recent[:3]] == [
        ("match", None), ("match", None), ("session", 25)]  # fmt: skip

    start, end = (today - timedelta(days=9)).isoformat(), today.isoformat()
    series = client.get(f"/api/v1/analytics/metrics?start={start}&end={end}&interval=1d",
                        headers=mina["headers"]).json()  # fmt: skip
    daily = series["metrics"]["dailyStats"]
    assert [(d["sessions"], d["minutes"], d["messages"]) for d in daily] == [
        (1, 30, 0), (1, 45, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 2),
        (1, 20, 0), (1, 25, 3), (0, 0, 0)]  # fmt: skip
    assert daily[0]["date"] == start and daily[-1]["date"] == end
    assert series["data"]["totals"] == {"sessions": 4, "minutes": 120, "messages": 5,
                                        "activeDays": 5}  # fmt: skip

    summary = eventually(
        lambda: data(client, "/api/v1/analytics/progress-summary", mina, **ENGLISH),
        lambda d: d["nextMilestone"] == "Advanced (3/5)", "the next milestone")  # fmt: skip
    monday = today - timedelta(days=today.weekday())
    this_week = sum(1 for n in (9, 8, 2, 1) if today - timedelta(days=n) >= monday)
    assert summary["currentLevel"] == "B1" and summary["sessionsThisWeek"] == this_week
    assert summary["consistency"] == 0.5  # 5 active days of the 10 since the first
    assert summary["fallback"] is False

    pattern = data(client, "/api/v1/analytics/learning-pattern?monthsBack=1", mina, **ENGLISH)
    habits = pattern["studyHabits"]
    assert (habits["sessionsPerWeek"], habits["averageSessionDuration"]) == (2.8, 30)
    assert (habits["consistency"], habits["messagesPerWeek"]) == (0.5, 3.5)
    assert habits["mostProductiveTime"] == "evening"  # 100 of 120 minutes after 18:00
    progress = pattern["progress"]
    assert (progress["currentLevel"], progress["startingLevel"]) == ("B1", "A2")
    assert progress["monthsLearning"] == 1
    assert [(s["key"], s["trend"]) for s in pattern["strengths"]] == [("fluency", "improving")]
    assert [(w["key"], w["score"]) for w in pattern["weaknesses"]] == [("grammar", 38)]
    assert pattern["learningStyle"]["engagement"] == {"videoSessions": 3, "audioSessions": 1,
                                                      "textSessions": 2}  # fmt: skip
    assert (pattern["engagement"]["initiativeLevel"], pattern["engagement"]["partners"]) == (
        100, 1)  # fmt: skip
    assert set(pattern["insights"]) == {"keyFindings", "recommendations", "milestones"}
    assert pattern["personalizedPath"]["mediumTerm"][0]["goal"] == "Reach B2 in English"

    guest = data(client, "/api/v1/analytics/dashboard", jun)
    assert (guest["totalSessions"], guest["messagesSent"], guest["levelTests"]) == (4, 0, [])


def test_streaks_and_days_are_the_learners_own(client: TestClient) -> None:
    """Two sessions 23 hours apart: on two days in a row in Seoul (00:30 and 23:30 the next
    day), but two UTC days apart, so Mina in Seoul has a streak of 2 and Jun in UTC of 1."""
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    mina, jun, _ = matched_pair(client)
    _in_seoul(client, mina)
    today = datetime.now(SEOUL).date()
    completed_session(rt, mina["id"], jun["id"], _local(today, 2, 0, 30), 30)
    completed_session(rt, mina["id"], jun["id"], _local(today, 1, 23, 30), 30)

    board = eventually(lambda: data(client, "/api/v1/analytics/dashboard", mina),
                       lambda d: d["totalSessions"] == 2, "Mina's sessions")  # fmt: skip
    assert board["currentStreak"] == 2 and board["timeZone"] == "Asia/Seoul"
    stats = eventually(lambda: data(client, "/api/v1/sessions/stats?period=week", mina),
                       lambda d: d["totalMinutes"] == 60, "the sessions read model")  # fmt: skip
    assert stats["streakDays"] == 2  # the sessions page agrees
    assert data(client, "/api/v1/analytics/dashboard", jun)["currentStreak"] == 1
    start = (today - timedelta(days=2)).isoformat()
    daily = data(client, f"/api/v1/analytics/metrics?start={start}&end={start}T23:59:59",
                 mina)["dailyStats"]  # fmt: skip
    assert [(d["date"], d["sessions"]) for d in daily] == [(start, 1)]

    def streak_progress(user: dict[str, Any]) -> int:
        mine = data(client, "/api/v1/achievements/my", user)
        return int(next(i for i in mine if i["achievementKey"] == "streak_7")["currentProgress"])

    eventually(lambda: streak_progress(mina), lambda n: n == 2, "Mina's streak achievement")
    eventually(lambda: streak_progress(jun), lambda n: n == 1, "Jun's streak achievement")


def test_analytics_need_a_signed_in_caller_and_valid_input(client: TestClient) -> None:
    paths = ("/progress-summary", "/learning-pattern", "/metrics", "/dashboard")
    for path in paths:
        response = client.get(f"/api/v1/analytics{path}")
        assert response.status_code == 401, path
        assert response.json()["code"] == "AUTH_REQUIRED"
    mina, _, _ = matched_pair(client)
    refused = {
        "/learning-pattern?monthsBack=0": "VALIDATION_ERROR",
        "/learning-pattern?monthsBack=13": "VALIDATION_ERROR",
        "/metrics?interval=5m": "VALIDATION_ERROR",
        "/metrics?start=yesterday": "VALIDATION_ERROR",
        "/metrics?start=2030-02-01&end=2030-01-01": "INVALID_RANGE",
        "/metrics?start=2028-01-01&end=2030-01-01": "INVALID_RANGE",
    }
    for path, code in refused.items():
        response = client.get(f"/api/v1/analytics{path}", headers=mina["headers"])
        assert response.status_code == 422, path
        assert response.json()["code"] == code, path
    empty = data(client, "/api/v1/analytics/learning-pattern", mina)
    assert empty["progress"]["currentLevel"] is None and empty["strengths"] == []
    assert {"insights", "personalizedPath"} <= set(empty)
    assert "engagement" in empty["learningStyle"]

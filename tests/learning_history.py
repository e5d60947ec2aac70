"""A learner's past, written through the real commands with the clock set back: completed
sessions, chat messages and level-test results on chosen days, so analytics and
achievements can be checked against numbers worked out by hand."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from fastapi.testclient import TestClient

from app.runtime import Runtime
from commands import level_tests, sessions
from commands.base import CommandBus, CommandContext
from commands.chat import PostMessage, post_message
from tests.support import signed_in_learner

T = TypeVar("T")


def at(rt: Runtime, moment: datetime) -> CommandBus:
    """The runtime's command bus with its clock stopped at ``moment``."""
    return CommandBus(rt.store, clock=lambda: moment)


def eventually(read: Callable[[], T], done: Callable[[T], bool], what: str) -> T:
    """Poll ``read`` until ``done`` holds (the read models follow the log on their own)."""
    deadline = time.monotonic() + 30
    while not done(value := read()):
        assert time.monotonic() < deadline, f"{what}: still {value!r}"
        time.sleep(0.05)
    return value


def data(client: TestClient, path: str, user: dict[str, Any], **headers: str) -> Any:
    response = client.get(path, headers=user["headers"] | headers)
    assert response.status_code == 200, (path, response.text)
    return response.json()["data"]


def matched_pair(client: TestClient) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Mina (Korean, learning English) and Jun (English, learning Korean), matched, and
    the id of the direct chat room the match opened."""
    mina = signed_in_learner(client, "Mina", native=1, target=2)
    jun = signed_in_learner(client, "Jun", native=2, target=1)
    sent = client.post("/api/v1/matching/request", json={"targetUserId": jun["id"]},
                       headers=mina["headers"])  # fmt: skip
    request_id = sent.json()["data"]["requestId"]
    accepted = client.post(f"/api/v1/matching/accept/{request_id}", json={},
                           headers=jun["headers"])  # fmt: skip
    assert accepted.status_code == 200, accepted.text
    rooms = eventually(lambda: data(client, "/api/v1/chat/rooms", mina), bool, "direct room")
    return mina, jun, int(rooms[0]["roomId"])


def completed_session(rt: Runtime, host: str, guest: str, started: datetime, minutes: int, *,
                      kind: str = "VIDEO") -> str:  # fmt: skip
    """A 1:1 session proposed and accepted a day before ``started``, held for ``minutes``."""
    ctx = CommandContext(actor_id=host)
    booked = started - timedelta(days=1)
    command = sessions.ScheduleSession.model_validate(
        {"partnerId": guest, "scheduledAt": started, "duration": 30, "language": "en",
         "type": kind})  # fmt: skip
    session_id = str(sessions.schedule_session(at(rt, booked), ctx, host_id=host,
                                               command=command).result["session_id"])  # fmt: skip
    accept = sessions.AcceptSession(session_id=session_id, user_id=guest)
    sessions.accept_session(at(rt, booked), CommandContext(actor_id=guest), accept)
    start = sessions.StartSession(session_id=session_id, user_id=host)
    sessions.start_session(at(rt, started), ctx, start)
    complete = sessions.CompleteSession(session_id=session_id, user_id=host)
    sessions.complete_session(at(rt, started + timedelta(minutes=minutes)), ctx, complete)
    return session_id


def messages_sent(rt: Runtime, sender: str, room_id: int, moment: datetime, count: int) -> None:
    for n in range(count):
        post_message(at(rt, moment + timedelta(seconds=n)), CommandContext(actor_id=sender),
                     sender_id=sender,
                     command=PostMessage(roomId=room_id, message=f"message {n}"))  # fmt: skip


def assessed(rt: Runtime, user: str, moment: datetime, level: str, scores: dict[str, int], *,
             strong: tuple[str, ...] = (), weak: tuple[str, ...] = ()) -> int:  # fmt: skip
    """A voice level test answered, transcribed and assessed at ``moment``."""
    bus, ctx = at(rt, moment), CommandContext(actor_id=user)
    test_id = int(level_tests.start_test(bus, ctx, user_id=user, language="en",
                                         mode="voice").result["test_id"])  # fmt: skip
    answer = level_tests.record_answer(bus, ctx, user_id=user, test_id=test_id,
                                       question_id=None, recording=f"tests/{test_id}",
                                       media_type="audio/wav", duration=30.0, size=100)  # fmt: skip
    level_tests.record_transcript(bus, ctx, test_id, question_id=answer.result["question_id"],
                                  recording=f"tests/{test_id}", text="I like talking.",
                                  words="[]", language="en", duration=30.0, model="whisper",
                                  model_version="test")  # fmt: skip
    level_tests.request_analysis(bus, ctx, user_id=user, test_id=test_id)
    overall = sum(scores.values()) // len(scores)
    recorded = level_tests.record_assessment(bus, ctx, test_id, {
        "level": level, "overall": overall, "scores": scores,
        "strengths": [f"{area}: measured" for area in strong],
        "improvements": [f"{area}: work on this" for area in weak],
        "feedback": "Keep going.", "confidence": 70, "features": {}, "scorer_version": "test",
        "model_versions": {}})  # fmt: skip
    assert recorded.result["recorded"]
    return test_id

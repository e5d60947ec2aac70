"""Offline catch-up: ``GET /api/v1/sync?since=CURSOR`` returns what changed for the caller
since the cursor, once, in pages of whole events, and nothing of anyone else's."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.integration.test_chat_socket import _room
from tests.support import StompClient, signed_in_learner, token_of

LISTS = ("messages", "readStates", "notifications", "deletedNotificationIds",
         "matchRequests", "matches", "sessions")  # fmt: skip


def _sync(client: TestClient, user: dict[str, Any], since: str, limit: int = 500) -> dict[str, Any]:
    response = client.get(f"/api/v1/sync?since={since}&limit={limit}", headers=user["headers"])
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def _until(
    client: TestClient, user: dict[str, Any], since: str, done: Any, limit: int = 500
) -> tuple[dict[str, list[Any]], str]:
    """Sync repeatedly from ``since`` (as a client would), gathering every page, until
    ``done(gathered)``; returns what was gathered and the last cursor."""
    gathered: dict[str, list[Any]] = {name: [] for name in LISTS}
    cursor, deadline = since, time.monotonic() + 30
    while True:
        page = _sync(client, user, cursor, limit)
        assert int(page["cursor"]) >= int(cursor)  # a cursor never goes back
        for name in LISTS:
            gathered[name] += page[name]
        cursor = page["cursor"]
        if done(gathered) and not page["hasMore"]:
            return gathered, cursor
        assert time.monotonic() < deadline, gathered
        if not page["hasMore"]:
            time.sleep(0.05)


def test_an_offline_client_catches_up_in_one_call_and_sees_each_change_once(
    client: TestClient,
) -> None:
    mina = signed_in_learner(client, "Mina", native=1, target=2)
    jun = signed_in_learner(client, "Jun", native=2, target=1)
    stranger = signed_in_learner(client, "Stranger", native=1, target=2)

    request_id = client.post(
        "/api/v1/matching/request", json={"targetUserId": jun["id"]}, headers=mina["headers"]
    ).json()["data"]["requestId"]
    first, cursor = _until(client, jun, "0", lambda g: g["notifications"])
    assert [r["requestId"] for r in first["matchRequests"]] == [request_id]
    assert first["matchRequests"][0]["status"] == "pending"
    assert [n["type"] for n in first["notifications"]] == ["match_request"]

    # Jun's phone goes offline. Meanwhile, on his laptop he accepts and deletes the
    # notification, and Mina writes in a room they share and reads it.
    client.post(f"/api/v1/matching/accept/{request_id}", json={}, headers=jun["headers"])
    starts = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    session = client.post("/api/v1/sessions", headers=mina["headers"], json={
        "partnerId": jun["id"], "scheduledAt": starts, "language": "en"})  # fmt: skip
    assert session.status_code == 200, session.text
    room_id = _room(client, mina, jun)
    with client.websocket_connect("/ws/chat") as ws:
        sender = StompClient(ws)
        assert sender.connect(token_of(mina)).command == "CONNECTED"
        for text in ("one", "two", "three"):
            sender.send("SEND", {"destination": "/pub/chat/message", "receipt": text},
                        {"roomId": room_id, "message": text})  # fmt: skip
            assert sender.next().headers["receipt-id"] == text
    client.post(f"/api/v1/chat/read-status/rooms/{room_id}/read-all", headers=mina["headers"])
    notification = first["notifications"][0]["id"]
    assert client.delete(f"/api/v1/notifications/{notification}",
                         headers=jun["headers"]).status_code == 200  # fmt: skip

    def caught_up(g: dict[str, list[Any]]) -> bool:
        return (
            len(g["messages"]) == 3
            and any(s["userId"] == mina["id"] and s["roomId"] == room_id for s in g["readStates"])
            and bool(g["deletedNotificationIds"])
            and any(m["partnerId"] == mina["id"] for m in g["matches"])
            and bool(g["sessions"])
        )

    later, cursor = _until(client, jun, cursor, caught_up)
    assert [m["message"] for m in later["messages"]] == ["one", "two", "three"]
    assert later["messages"][0]["sender"]["userId"] == mina["id"]
    assert later["deletedNotificationIds"] == [notification]
    assert [r["status"] for r in later["matchRequests"]] == ["accepted"]
    assert notification not in [n["id"] for n in later["notifications"]]
    assert [s["id"] for s in later["sessions"]] == [session.json()["data"]["id"]]
    assert later["sessions"][0]["awaitingMyAnswer"] is True

    # Caught up: the next call brings nothing new.
    nothing = _sync(client, jun, cursor)
    assert all(nothing[name] == [] for name in LISTS) and not nothing["hasMore"]
    # Someone else's sync shows none of it.
    theirs, _ = _until(client, stranger, "0", lambda g: True)
    assert all(theirs[name] == [] for name in LISTS)


def test_small_pages_cut_between_events_and_lose_nothing(client: TestClient) -> None:
    owner, guest = signed_in_learner(client, "Owner"), signed_in_learner(client, "Guest")
    room_id = _room(client, owner, guest)
    texts = [f"line {n}" for n in range(7)]
    with client.websocket_connect("/ws/chat") as ws:
        sender = StompClient(ws)
        assert sender.connect(token_of(owner)).command == "CONNECTED"
        for text in texts:
            sender.send("SEND", {"destination": "/pub/chat/message", "receipt": text},
                        {"roomId": room_id, "message": text})  # fmt: skip
            assert sender.next().headers["receipt-id"] == text
    pages: list[int] = []

    def all_lines(g: dict[str, list[Any]]) -> bool:
        pages.append(len(g["messages"]))
        return len(g["messages"]) >= len(texts)

    gathered, _ = _until(client, guest, "0", all_lines, limit=2)
    assert [m["message"] for m in gathered["messages"]] == texts  # in order, each once
    assert max(b - a for a, b in zip([0, *pages], pages, strict=False)) <= 2


def test_a_bad_cursor_is_refused(client: TestClient) -> None:
    user = signed_in_learner(client, "Ana")
    for since in ("-1", "abc", str(2**63)):
        response = client.get(f"/api/v1/sync?since={since}", headers=user["headers"])
        assert response.status_code == 422, response.text
    assert client.get("/api/v1/sync?since=0").status_code == 401

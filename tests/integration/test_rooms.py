"""WebRTC rooms: admission, seats, signalling relay, TURN credentials, rate limits, and the
room lifecycle as events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from app.runtime import Runtime
from domain.rooms import RoomCreated, RoomEnded, RoomJoined, RoomLeft
from infra.room_registry import RoomFull
from tests.support import signed_in_learner


def _create(client: TestClient, size: int = 2, **headers: str) -> str:
    response = client.post("/api/v1/room/create", headers=headers, json={
        "roomType": "video", "maxParticipants": size,
        "metadata": {"title": "Evening talk", "language": "en", "isPrivate": False}})  # fmt: skip
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["roomId"])


def _join(client: TestClient, room: str, user: str) -> dict[str, Any]:
    response = client.post(f"/api/v1/room/{room}/join", json={"userId": user, "userName": user})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def _next(ws: WebSocketTestSession, kind: str) -> dict[str, Any]:
    """The next message of ``kind`` (others, such as updates, are skipped)."""
    while True:
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == kind:
            return message


def test_signals_reach_only_their_addressee_and_the_call_is_recorded(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    owner = signed_in_learner(client, "Owner")
    room = _create(client, 3, Authorization=owner["headers"]["Authorization"])
    assert len(room) >= 20  # unguessable
    listed = client.get("/api/v1/room/active", headers=owner["headers"]).json()["data"]
    assert [r["roomId"] for r in listed] == [room] and listed[0]["status"] == "waiting"
    for user in ("ana", "ben", "cho"):
        _join(client, room, user)
    base = f"/api/v1/room/{room}/ws"
    with client.websocket_connect(f"{base}?userId=ana&userName=Ana") as ana:
        first = _next(ana, "connected")
        assert first["userId"] == "ana" and first["roomData"]["maxParticipants"] == 3
        with (
            client.websocket_connect(f"{base}?userId=ben&userName=Ben") as ben,
            client.websocket_connect(f"{base}?userId=cho&userName=Cho") as cho,
        ):
            joined = _next(ben, "connected")["roomData"]["participants"]
            assert [p["id"] for p in joined] == ["ana", "ben"]  # earlier arrivals, then self
            _next(cho, "connected")
            sdp = {"type": "offer", "sdp": "v=0"}
            ben.send_json({"type": "offer", "data": {"to": "ana", "signal": sdp}})
            ben.send_json({"type": "ice-candidate",
                           "data": {"to": "ana", "candidate": {"candidate": "c1"}}})  # fmt: skip
            offer = ana.receive_json()  # the newcomer's offer comes first...
            assert offer == {"type": "offer", "from": "ben",
                             "data": {"type": "offer", "sdp": "v=0"}}  # fmt: skip
            joined = ana.receive_json()  # ...then the news that it joined
            assert joined["type"] == "participant-joined"
            assert joined["participant"]["id"] == "ben"
            assert _next(ana, "ice-candidate")["data"]["candidate"] == {"candidate": "c1"}
            cho.send_json({"type": "ping"})
            assert _next(cho, "pong")  # cho got no offer: the pong is its next relevant message
            ben.send_json({"type": "toggle-audio", "data": {"enabled": False}})
            updated = _next(ana, "participant-updated")["participant"]
            assert updated["id"] == "ben" and updated["audioEnabled"] is False
            cho.send_json({"type": "get-participants"})
            listed = _next(cho, "participants-list")["participants"]
            assert [p["id"] for p in listed] == ["ana", "ben", "cho"]
            ana.send_json({"type": "get-participants"})
            assert [p["id"] for p in _next(ana, "participants-list")["participants"]] == ["ana"]
        assert _next(ana, "participant-left")["userId"] in {"ben", "cho"}
    deadline = time.monotonic() + 20
    while RoomEnded.topic not in (topics := [r.topic for r in rt.store.read_all()]):
        assert time.monotonic() < deadline, topics
        time.sleep(0.05)
    assert topics.count(RoomJoined.topic) == 3 and topics.count(RoomLeft.topic) == 3
    assert topics.count(RoomCreated.topic) == 1


def test_a_socket_needs_an_admission_or_a_room_token(client: TestClient) -> None:
    room, other = _create(client), _create(client)
    for url in (
        f"/api/v1/room/{room}/ws?userId=never-joined",  # never admitted
        "/api/v1/room/no-such-room/ws?userId=x",
        f"/api/v1/room/{room}/ws",
    ):
        with pytest.raises(WebSocketDisconnect), client.websocket_connect(url) as ws:
            ws.receive_json()
    other_token = _join(client, other, "dana")["roomToken"]  # a token for another room
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect(f"/api/v1/room/{room}/ws?token={other_token}") as ws,
    ):
        ws.receive_json()
    token = _join(client, room, "dana")["roomToken"]
    client.post(f"/api/v1/room/{room}/leave", json={"userId": "dana"})  # admission revoked...
    with client.websocket_connect(f"/api/v1/room/{room}/ws?token={token}&userId=x") as ws:
        assert _next(ws, "connected")["userId"] == "dana"  # ...the signed token still holds


def test_joining_an_unknown_room_creates_it_and_a_full_room_refuses(client: TestClient) -> None:
    named = "partner-7f3a"  # the mates page names its room after the partner
    _join(client, named, "eve")
    info = client.get(f"/api/v1/room/{named}/info").json()["data"]
    assert info["maxParticipants"] == 2 and info["participants"] == []
    _join(client, named, "fay")
    base = f"/api/v1/room/{named}/ws"
    with (
        client.websocket_connect(f"{base}?userId=eve") as eve,
        client.websocket_connect(f"{base}?userId=fay") as fay,
    ):
        _next(eve, "connected")
        _next(fay, "connected")
        full = client.post(f"/api/v1/room/{named}/join", json={"userId": "gil"})
        assert full.status_code == 409 and full.json()["error"]["code"] == "ROOM_FULL"
    bad = client.post("/api/v1/room/bad id!/join", json={"userId": "gil"})
    assert bad.status_code in (404, 422)


def test_two_sockets_racing_for_the_last_seat_get_one(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    room = _create(client, 2)
    rt.rooms.take_seat(room, "first", 2, {"id": "first"})
    seated, refused = [], []
    barrier = threading.Barrier(8)

    def race(user: str) -> None:
        barrier.wait()
        try:
            rt.rooms.take_seat(room, user, 2, {"id": user})
            seated.append(user)
        except RoomFull:
            refused.append(user)

    threads = [threading.Thread(target=race, args=(f"u{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seated) == 1 and len(refused) == 7
    assert {p["id"] for p in rt.rooms.participants(room)} == {"first", *seated}


@pytest.mark.settings(turn_urls="turn:turn.example:3478,turns:turn.example:5349",
                      turn_secret="coturn-shared-secret", turn_ttl_seconds=3600)  # fmt: skip
def test_turn_credentials_follow_the_coturn_rest_scheme(client: TestClient) -> None:
    user = signed_in_learner(client, "Hana")
    room = _create(client)
    servers = client.get(f"/api/v1/room/{room}/ice-servers",
                         headers=user["headers"]).json()["data"]["iceServers"]  # fmt: skip
    assert servers[0] == {"urls": "stun:stun.l.google.com:19302"}
    turn = servers[1]
    expiry, _, name = turn["username"].partition(":")
    assert name == user["id"] and 3500 < int(expiry) - time.time() <= 3600
    expected = hmac.new(b"coturn-shared-secret", turn["username"].encode(), hashlib.sha1)
    assert turn["credential"] == base64.b64encode(expected.digest()).decode()
    assert turn["urls"] == ["turn:turn.example:3478", "turns:turn.example:5349"]


@pytest.mark.settings(room_rate_limit="5/minute")
def test_room_routes_are_rate_limited_per_ip(client: TestClient) -> None:
    room = _create(client)
    statuses = [client.get(f"/api/v1/room/{room}/info").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]  # the create counted too
    limited = client.get(f"/api/v1/room/{room}/info")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1

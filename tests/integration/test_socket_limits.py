"""What one client may hold over the sockets (api/socket_limits.py), through the
application: caps on open sockets per user and per address (also across two API
processes sharing Redis), idle sockets closed, and chat frames as large as the SPA's voice
messages and no larger for anything else.

What only a real server shows (frames refused at their header, a reader that stops
reading, memory) is in tests/e2e/test_hostile_sizes.py.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from api.app import create_app
from api.stomp import Frame
from app.runtime import Runtime
from devservices.settings import make_settings
from infra.socket_leases import SocketLeases
from tests.support import StompClient, appended_by_requests, signed_in_learner, token_of

EMBEDDED = pytest.mark.parametrize("client", ["embedded"], indirect=True)


def _closed_with(ws: WebSocketTestSession) -> int:
    """Read until the server closes the socket; its close code."""
    while True:
        try:
            ws.receive_text()
        except WebSocketDisconnect as closed:
            return closed.code


def _leases(client: TestClient) -> SocketLeases:
    leases: SocketLeases = client.app.state.socket_leases  # type: ignore[attr-defined]
    return leases


@EMBEDDED
@pytest.mark.settings(ws_max_per_user=2)
def test_a_user_past_the_cap_gets_an_error_frame_and_1013_until_a_socket_closes(
    client: TestClient,
) -> None:
    user = signed_in_learner(client, "Tabs")
    token = token_of(user)
    leases = _leases(client)
    with client.websocket_connect("/ws/chat") as chat:
        assert StompClient(chat).connect(token).command == "CONNECTED"
        with client.websocket_connect(f"/ws/notifications?token={token}") as bell:
            assert StompClient(bell).connect(token).command == "CONNECTED"
            with client.websocket_connect("/ws/chat") as third:
                refused = StompClient(third).connect(token)
                assert (refused.command, refused.headers["message"]) == (
                    "ERROR", "Too many connections",
                )  # fmt: skip
                assert _closed_with(third) == 1013
            assert leases.count(leases.user_key(user["id"])) == 2
        with client.websocket_connect("/ws/chat") as again:  # one closed: room for one
            assert StompClient(again).connect(token).command == "CONNECTED"
    assert leases.count(leases.user_key(user["id"])) == 0


@EMBEDDED
@pytest.mark.settings(ws_max_per_ip=2)
def test_an_address_past_the_cap_has_its_handshake_refused_with_429(client: TestClient) -> None:
    token = token_of(signed_in_learner(client, "Crowd"))
    url = f"/ws/notifications?token={token}"
    with client.websocket_connect(url), client.websocket_connect(url):
        with pytest.raises(WebSocketDenialResponse) as denied:
            client.websocket_connect(url).__enter__()
        assert denied.value.status_code == 429
        assert denied.value.headers["retry-after"].isdigit()
        assert denied.value.json()["code"] == "TOO_MANY_SOCKETS"
    with client.websocket_connect(url) as ws:  # both closed: admitted again
        assert StompClient(ws).connect(token).command == "CONNECTED"


def test_the_caps_hold_across_api_processes_sharing_redis(
    tmp_path: Path, redis_url: str, runtimes: Callable[..., Runtime]
) -> None:
    """Two applications with their own databases and one Redis, like two API processes."""
    built = [runtimes(make_settings(tmp_path / name, redis_url=redis_url, ws_max_per_user=2))
             for name in ("a", "b")]  # fmt: skip
    built[0].start_projectors()
    with TestClient(create_app(built[0])) as a, TestClient(create_app(built[1])) as b:
        login = a.post("/api/v1/auth/dev-login", json={"email": "two@example.com", "name": "Two"})
        token = login.json()["data"]["accessToken"]
        with a.websocket_connect("/ws/chat") as one, b.websocket_connect("/ws/chat") as two:
            assert StompClient(one).connect(token).command == "CONNECTED"
            assert StompClient(two).connect(token).command == "CONNECTED"
            for app in (a, b):
                with app.websocket_connect("/ws/chat") as third:
                    assert StompClient(third).connect(token).command == "ERROR"
                    assert _closed_with(third) == 1013


@EMBEDDED
@pytest.mark.settings(ws_auth_timeout_seconds=0.3, ws_idle_seconds=0.6)
def test_stomp_sockets_that_say_nothing_are_closed(client: TestClient) -> None:
    token = token_of(signed_in_learner(client, "Quiet"))
    with client.websocket_connect("/ws/chat") as never_connects:
        assert _closed_with(never_connects) == 1000
    with client.websocket_connect("/ws/chat") as stops_beating:
        connected = StompClient(stops_beating).connect(token)
        assert connected.headers["heart-beat"] == "0,200"  # a third of the idle time
        assert _closed_with(stops_beating) == 1000


@EMBEDDED
@pytest.mark.settings(signalling_idle_seconds=0.5)
def test_a_silent_signalling_socket_is_closed(client: TestClient) -> None:
    room = client.post("/api/v1/room/create", json={"roomType": "audio"}).json()["data"]["roomId"]
    assert client.post(f"/api/v1/room/{room}/join", json={"userId": "ana"}).status_code == 200
    with client.websocket_connect(f"/api/v1/room/{room}/ws?userId=ana") as ana:
        assert ana.receive_json()["type"] == "connected"
        assert _closed_with(ana) == 1000


def _chat_room(client: TestClient, owner: dict[str, Any]) -> int:
    response = client.post("/api/v1/chat/rooms", json={"roomName": "Voice"},
                           headers=owner["headers"])  # fmt: skip
    return int(response.json()["data"]["roomId"])


def _send_frame(body: str) -> str:
    """A SEND as @stomp/stompjs writes it (``content-length`` in UTF-8 bytes)."""
    length = len(body.encode())
    return f"SEND\ndestination:/pub/chat/message\ncontent-length:{length}\n\n{body}\x00"


@EMBEDDED
def test_the_largest_voice_message_the_spa_can_send_is_one_frame_the_chat_socket_takes(
    client: TestClient,
) -> None:
    """The SPA sends a recording as a base64 data URL inside one SEND (ChatWindow.jsx);
    the frame of a recording at ``chat_voice_max_bytes`` must pass, whole."""
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    owner = signed_in_learner(client, "Voice")
    room_id = _chat_room(client, owner)
    recording = os.urandom(rt.settings.chat_voice_max_bytes)
    data_url = "data:audio/webm;codecs=opus;base64," + base64.b64encode(recording).decode()
    body = json.dumps({"roomId": room_id, "message": "", "imageUrls": [],
                       "audioData": data_url, "messageType": "AUDIO"})  # fmt: skip
    frame = _send_frame(body)
    assert len(frame.encode()) <= rt.settings.chat_frame_max_bytes
    with client.websocket_connect("/ws/chat") as ws:
        stomp = StompClient(ws)
        assert stomp.connect(token_of(owner)).command == "CONNECTED"
        stomp.send("SUBSCRIBE", {"id": "s", "destination": f"/sub/chat/room/{room_id}",
                                 "receipt": "subscribed"})  # fmt: skip
        assert stomp.next().command == "RECEIPT"
        ws.send_text(frame)
        message = json.loads(stomp.next().body)
    assert message["messageType"] == "AUDIO"
    stored = client.get(message["audioUrl"])
    assert stored.status_code == 200 and stored.content == recording


@EMBEDDED
def test_a_message_without_voice_is_held_to_the_small_limit(client: TestClient) -> None:
    """Only a voice message may use the chat socket's large frames: anything else past
    ``ws_max_message_bytes`` (image URLs of 10 kB each here) is dropped, nothing stored."""
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    owner = signed_in_learner(client, "Padding")
    room_id = _chat_room(client, owner)
    head = rt.store.max_position()
    padded = json.dumps({"roomId": room_id, "message": "hi",
                         "imageUrls": ["/api/v1/upload/file/" + "x" * 10_000] * 10})  # fmt: skip
    with client.websocket_connect("/ws/chat") as ws:
        stomp = StompClient(ws)
        assert stomp.connect(token_of(owner)).command == "CONNECTED"
        ws.send_text(_send_frame(padded)[:-1] + "\x00")
        ws.send_text(Frame("DISCONNECT", {"receipt": "bye"}).encode().decode())
        assert stomp.next().headers == {"receipt-id": "bye"}  # no ERROR, no receipt before it
    assert appended_by_requests(rt.store, head) == []

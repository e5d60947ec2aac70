"""The chat STOMP socket through the real app: auth, membership, live delivery (the sender
included), idempotent resends, voice messages inside frames, refusal without ERROR frames."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.runtime import Runtime
from domain.chat import ChatMessagePosted
from tests.support import StompClient, appended_by_requests, signed_in_learner, token_of


def _room(client: TestClient, owner: dict[str, Any], guest: dict[str, Any]) -> int:
    room_id = int(
        client.post(
            "/api/v1/chat/rooms", json={"roomName": "Talk"}, headers=owner["headers"]
        ).json()["data"]["roomId"]
    )
    assert (
        client.post(f"/api/v1/chat/rooms/{room_id}/join", headers=guest["headers"]).status_code
        == 200
    )
    return room_id


def test_messages_reach_every_subscriber_including_the_sender(client: TestClient) -> None:
    owner, guest = signed_in_learner(client, "Owner"), signed_in_learner(client, "Guest")
    outsider = signed_in_learner(client, "Outsider")
    room_id = _room(client, owner, guest)
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with (
        client.websocket_connect("/ws/chat") as ws_owner,
        client.websocket_connect("/ws/chat") as ws_guest,
        client.websocket_connect("/ws/chat") as ws_outsider,
    ):
        a, b, c = StompClient(ws_owner), StompClient(ws_guest), StompClient(ws_outsider)
        for stomp, user in ((a, owner), (b, guest), (c, outsider)):
            connected = stomp.connect(token_of(user))
            assert connected.command == "CONNECTED" and connected.headers["version"] == "1.2"
        for stomp in (a, b, c):
            stomp.send("SUBSCRIBE", {"id": "sub-0", "destination": f"/sub/chat/room/{room_id}",
                                     "receipt": "r-sub"})  # fmt: skip
        assert a.next().headers["receipt-id"] == "r-sub"
        assert b.next().headers["receipt-id"] == "r-sub"
        # The outsider's SUBSCRIBE and SEND are refused quietly: no receipt, no ERROR,
        # nothing stored.
        head = rt.store.max_position()
        c.send("SEND", {"destination": "/pub/chat/message", "receipt": "r-c"},
               {"roomId": room_id, "message": "let me in", "messageType": "TEXT"})  # fmt: skip
        c.send("SEND", {"destination": "/pub/chat/typing", "receipt": "r-probe"}, {"roomId": 1})
        c.send("DISCONNECT", {"receipt": "r-bye"})
        assert c.next().headers == {"receipt-id": "r-bye"}
        assert appended_by_requests(rt.store, head) == []

        body = {"roomId": room_id, "message": "안녕하세요 👋", "imageUrls": [],
                "audioData": None, "messageType": "TEXT", "clientMessageId": "m-1"}  # fmt: skip
        a.send("SEND", {"destination": "/pub/chat/message", "receipt": "r-1"}, body)
        a.send("SEND", {"destination": "/pub/chat/message", "receipt": "r-2"}, body)  # a resend
        frames = [a.next() for _ in range(3)]
        assert [f.command for f in frames].count("RECEIPT") == 2
        delivered = next(f for f in frames if f.command == "MESSAGE")
        assert delivered.headers["destination"] == f"/sub/chat/room/{room_id}"
        assert delivered.headers["content-length"] == str(len(delivered.body))
        message = json.loads(delivered.body)
        assert message["message"] == "안녕하세요 👋" and message["sender"]["name"] == "Owner"
        received = b.next()
        assert received.command == "MESSAGE" and json.loads(received.body) == message
        posted = [r for r in rt.store.read_all() if r.topic == ChatMessagePosted.topic]
        assert len(posted) == 1  # the resend stored nothing

        # A voice message travels inside the frame as a data URL (about 1.3 MB here).
        audio = bytes(range(256)) * 4096
        data_url = "data:audio/webm;codecs=opus;base64," + base64.b64encode(audio).decode()
        voice = {"roomId": room_id, "message": "", "imageUrls": [], "messageType": "AUDIO",
                 "audioData": data_url}  # fmt: skip
        b.send("SEND", {"destination": "/pub/chat/message"}, voice)
        spoken = json.loads(b.next().body)
        assert spoken["messageType"] == "AUDIO" and json.loads(a.next().body) == spoken
        stored = client.get(spoken["audioUrl"])
        assert stored.status_code == 200 and stored.content == audio
        assert stored.headers["content-type"] == "audio/webm"


def test_a_bad_token_gets_an_error_frame_and_code_1008(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        stomp = StompClient(ws)
        error = stomp.connect("not-a-token")
        assert error.command == "ERROR" and error.headers["message"] == "Unauthorized"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1008


def test_frames_before_connect_and_garbage_end_the_connection(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        ws.send_text("SUBSCRIBE\nid:0\ndestination:/sub/chat/room/1\n\n\x00")
        assert StompClient(ws).next().command == "ERROR"
    with client.websocket_connect("/ws/chat") as ws:
        ws.send_text("HELLO\n\n\x00")
        assert StompClient(ws).next().command == "ERROR"


def test_notification_socket_takes_the_token_from_the_query(client: TestClient) -> None:
    user = signed_in_learner(client, "Nora")
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with client.websocket_connect(f"/ws/notifications?token={token_of(user)}") as ws:
        stomp = StompClient(ws)
        stomp.send("CONNECT", {"accept-version": "1.2"})
        assert stomp.next().command == "CONNECTED"
        stomp.send("SUBSCRIBE", {"id": "n", "destination": "/user/queue/notifications",
                                 "receipt": "r"})  # fmt: skip
        assert stomp.next().command == "RECEIPT"
        stomp.send("SEND", {"destination": "/pub/notifications/mark-read", "receipt": "m"},
                   {"notificationId": 1})  # fmt: skip
        assert stomp.next().headers["receipt-id"] == "m"
        rt.fanout.publish(f"lm:live:user:{user['id']}:notifications", {"id": 7, "title": "hi"})
        pushed = stomp.next()
        assert pushed.command == "MESSAGE" and json.loads(pushed.body) == {"id": 7, "title": "hi"}
        assert pushed.headers["destination"] == "/user/queue/notifications"


def test_an_open_socket_is_presence_and_closing_it_ends_it(client: TestClient) -> None:
    user, viewer = signed_in_learner(client, "Olga"), signed_in_learner(client, "Viktor")
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]

    def status() -> dict[str, Any]:
        response = client.get(f"/api/v1/users/{user['id']}/profile", headers=viewer["headers"])
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    assert status()["onlineStatus"] == "OFFLINE" and status()["lastActiveTime"] is None
    with client.websocket_connect(f"/ws/notifications?token={token_of(user)}") as ws:
        stomp = StompClient(ws)
        stomp.send("CONNECT", {"accept-version": "1.2"})
        assert stomp.next().command == "CONNECTED"
        assert status()["onlineStatus"] == "ONLINE"
    deadline = time.monotonic() + 10
    while rt.presence.of([user["id"]], time.time())[user["id"]]["status"] == "ONLINE":
        assert time.monotonic() < deadline, "closing the only socket did not end presence"
        time.sleep(0.05)
    assert status()["onlineStatus"] == "OFFLINE" and status()["lastActiveTime"] is not None

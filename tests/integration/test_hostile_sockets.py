"""Malformed frames on the chat STOMP socket and the WebRTC signalling socket.

test_chat_socket.py covers a frame before CONNECT and an unknown command; this adds what a
broken or hostile client can still send. A frame that is not STOMP ends the connection with
an ERROR frame and close code 1002 (contract 5.1: anything but a clean ERROR makes the SPA
retry blindly); a well-formed frame with a bad body is dropped without an ERROR (business
errors must not look fatal). The signalling socket answers ``{"type":"error"}`` and stays
open. Whatever arrives, nothing is stored and nobody else receives it.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from api.stomp_session import MAX_FRAME_BYTES
from app.runtime import Runtime
from tests.support import (
    StompClient,
    appended_by_requests,
    signed_in_learner,
    token_of,
)

pytestmark = pytest.mark.parametrize("client", ["embedded"], indirect=True)

CONNECT = "CONNECT\naccept-version:1.2\nAuthorization:Bearer {token}\n\n\x00"
NOT_STOMP: dict[str, str | bytes] = {
    "content-length not a number": "SEND\ndestination:/x\ncontent-length:ten\n\nx\x00",
    "content-length in other digits": "SEND\ndestination:/x\ncontent-length:²\n\nx\x00",
    "body longer than its content-length (no NUL after it)":
        "SEND\ndestination:/x\ncontent-length:2\n\nabc\x00",
    "headers not UTF-8": b"SEND\ndestination:/\xff\xfe\n\nx\x00",
    "undefined escape": "SEND\ndestination:/a\\tb\n\nx\x00",
    "header line without a colon": "SEND\ndestination\n\nx\x00",
    "headers past the frame limit": "SEND\nx-pad:" + "a" * (MAX_FRAME_BYTES + 1),
}  # fmt: skip


def _room(client: TestClient, owner: dict[str, Any]) -> int:
    response = client.post("/api/v1/chat/rooms", json={"roomName": "R"}, headers=owner["headers"])
    return int(response.json()["data"]["roomId"])


def _ends_with_error(ws: WebSocketTestSession, code: int) -> str:
    """The server's ERROR frame's message; the socket must then close with ``code``."""
    error = StompClient(ws).next()
    assert error.command == "ERROR", error
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    assert closed.value.code == code
    return error.headers["message"]


@pytest.mark.parametrize("frame", NOT_STOMP.values(), ids=NOT_STOMP.keys())
def test_a_frame_that_is_not_stomp_gets_an_error_and_a_close(
    client: TestClient, frame: str | bytes
) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    user = signed_in_learner(client, "Broken")
    head = rt.store.max_position()
    with client.websocket_connect("/ws/chat") as ws:
        ws.send_text(CONNECT.format(token=token_of(user)))
        assert StompClient(ws).next().command == "CONNECTED"
        if isinstance(frame, bytes):
            ws.send_bytes(frame)
        else:
            ws.send_text(frame)
        assert _ends_with_error(ws, 1002)
    assert appended_by_requests(rt.store, head) == []


def test_send_before_connect_is_refused_and_stores_nothing(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    owner = signed_in_learner(client, "Early")
    room_id = _room(client, owner)
    head = rt.store.max_position()
    with client.websocket_connect("/ws/chat") as ws:
        body = f'{{"roomId":{room_id},"message":"too soon"}}'
        ws.send_text(f"SEND\ndestination:/pub/chat/message\nreceipt:r\n\n{body}\x00")
        assert _ends_with_error(ws, 1002) == "CONNECT first"
    assert appended_by_requests(rt.store, head) == []


def test_bad_bodies_are_dropped_quietly_and_the_connection_lives_on(client: TestClient) -> None:
    """A SEND missing its NUL swallows the next frame into its body; that, a body that is not
    UTF-8 and one that is not JSON are all dropped without a receipt or an ERROR."""
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    owner = signed_in_learner(client, "Sloppy")
    room_id = _room(client, owner)
    head = rt.store.max_position()
    send = "SEND\ndestination:/pub/chat/message\nreceipt:{receipt}\n\n"
    with client.websocket_connect("/ws/chat") as ws:
        stomp = StompClient(ws)
        assert stomp.connect(token_of(owner)).command == "CONNECTED"
        ws.send_text(send.format(receipt="no-nul") + f'{{"roomId":{room_id},"message":"x"}}')
        ws.send_text("SEND\ndestination:/pub/chat/typing\nreceipt:swallowed\n\n{}\x00")
        ws.send_bytes(send.format(receipt="latin1").encode() + b'{"message":"caf\xe9"}\x00')
        ws.send_text(send.format(receipt="not-json") + "{roomId:\x00")
        ws.send_text(send.format(receipt="array") + "[1,2]\x00")
        ws.send_text("DISCONNECT\nreceipt:bye\n\n\x00")
        assert stomp.next().headers == {"receipt-id": "bye"}  # nothing before it
    assert appended_by_requests(rt.store, head) == []


def _signalling_pair(client: TestClient) -> tuple[str, str]:
    created = client.post("/api/v1/room/create", json={"roomType": "video", "maxParticipants": 2})
    room = str(created.json()["data"]["roomId"])
    for user in ("ana", "ben"):
        assert client.post(f"/api/v1/room/{room}/join", json={"userId": user}).status_code == 200
    return room, f"/api/v1/room/{room}/ws"


def _next_of(ws: WebSocketTestSession, *kinds: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = ws.receive_json()
        if message["type"] in kinds:
            return message


def test_malformed_signals_get_an_error_reach_nobody_and_store_nothing(
    client: TestClient,
) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    _, base = _signalling_pair(client)
    malformed: list[str | bytes] = [
        "not json", "", b"\xff\xfe", "[1,2]", '"offer"', "42", '{"no":"type"}',
        '{"type":"self-destruct"}', '{"type":{"nested":1}}',
        '{"type":"offer","data":{"signal":{"type":"offer","sdp":"v=0"}}}',  # no target
        '{"type":"ice-candidate","data":{"to":null,"candidate":{}}}',
        '{"type":"offer","data":{"to":"ben","signal":"' + "x" * 70_000 + '"}}',  # too large
    ]  # fmt: skip
    with (
        client.websocket_connect(f"{base}?userId=ana") as ana,
        client.websocket_connect(f"{base}?userId=ben") as ben,
    ):
        # Each join is recorded before its "connected"; the two may race on the room.
        _next_of(ana, "connected")
        _next_of(ben, "connected")
        head = rt.store.max_position()
        for frame in malformed:
            if isinstance(frame, bytes):
                ana.send_bytes(frame)
            else:
                ana.send_text(frame)
            ana.send_json({"type": "ping"})  # so that a missing error fails instead of hanging
            assert _next_of(ana, "error", "pong")["type"] == "error", frame
            _next_of(ana, "pong")
        ana.send_json({"type": "offer", "data": {"to": "ben", "signal": {"sdp": "ok"}}})
        relayed = _next_of(ben, "offer", "answer", "ice-candidate", "chat-message", "error")
        assert relayed == {"type": "offer", "from": "ana", "data": {"sdp": "ok"}}
        assert appended_by_requests(rt.store, head) == []

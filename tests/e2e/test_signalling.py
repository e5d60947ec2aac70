"""WebRTC signalling between real WebSocket clients on two ``languagemate api`` processes:
an offer reaches only its addressee on the other process, ICE sent before the addressee
connected is held and relayed, and a disconnect is announced to the others."""

from __future__ import annotations

import json
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import Processes, two_apis


def _next(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(ws.recv(timeout=20))
        if message["type"] == kind:
            return message


def _signal(ws: ClientConnection, kind: str, data: dict[str, Any]) -> None:
    ws.send(json.dumps({"type": kind, "data": data}))


def test_signals_cross_api_processes_to_their_addressee_only(
    distributed_env: dict[str, str], redis_url: str, processes: Processes
) -> None:
    env = {**distributed_env, "LANGUAGEMATE_REDIS_URL": redis_url}
    ports, bases, _ = two_apis(processes, env)

    created = httpx.post(f"{bases[0]}/api/v1/room/create", timeout=30,
                         json={"roomType": "audio", "maxParticipants": 3})  # fmt: skip
    assert created.status_code == 200, created.text
    room = created.json()["data"]["roomId"]
    for base, user in ((bases[0], "ana"), (bases[1], "ben"), (bases[0], "cho")):
        joined = httpx.post(f"{base}/api/v1/room/{room}/join", json={"userId": user}, timeout=30)
        assert joined.status_code == 200, joined.text

    def socket(port: int, user: str) -> ClientConnection:
        return connect(f"ws://127.0.0.1:{port}/api/v1/room/{room}/ws?userId={user}&userName={user}")

    with socket(ports[0], "ana") as ana, socket(ports[0], "cho") as cho:
        _next(ana, "connected")
        _next(cho, "connected")
        # Cho's arrival reaches Ana through Redis, possibly after anything sent directly.
        assert _next(ana, "participant-joined")["participant"]["id"] == "cho"
        # Ben is admitted but not connected yet: his ICE candidate waits for him.
        _signal(ana, "ice-candidate", {"to": "ben", "candidate": {"candidate": "early"}})
        ana.send(json.dumps({"type": "ping"}))
        _next(ana, "pong")  # the candidate was handled before the ping
        with socket(ports[1], "ben") as ben:
            assert {p["id"] for p in _next(ben, "connected")["roomData"]["participants"]} == {
                "ana", "cho", "ben"}  # fmt: skip
            assert _next(ben, "ice-candidate")["data"]["candidate"] == {"candidate": "early"}
            assert _next(ana, "participant-joined")["participant"]["id"] == "ben"
            _signal(ana, "offer", {"to": "ben", "signal": {"type": "offer", "sdp": "x"}})
            offer = _next(ben, "offer")
            assert offer["from"] == "ana" and offer["data"] == {"type": "offer", "sdp": "x"}
            _signal(ben, "answer", {"to": "ana", "signal": {"type": "answer", "sdp": "y"}})
            assert _next(ana, "answer")["from"] == "ben"
        assert _next(ana, "participant-left")["userId"] == "ben"
        # Cho, in the same room on Ana's process, saw the join and the leave but no signal.
        cho.send(json.dumps({"type": "ping"}))
        seen = []
        while (message := json.loads(cho.recv(timeout=20)))["type"] != "pong":
            seen.append(message["type"])
        assert "offer" not in seen and "answer" not in seen and "ice-candidate" not in seen
        assert "participant-joined" in seen and "participant-left" in seen

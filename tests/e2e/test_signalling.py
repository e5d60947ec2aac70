"""WebRTC signalling between real WebSocket clients on two ``languagemate api`` processes:
the newcomer is told only about earlier arrivals and offers to them, each earlier member
hears of the newcomer right after its offer (or after the fallback delay), an offer reaches
only its addressee on the other process, ICE sent before the addressee connected is held
and relayed, and a disconnect is announced to the others."""

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

    with socket(ports[0], "ana") as ana:
        assert [p["id"] for p in _next(ana, "connected")["roomData"]["participants"]] == ["ana"]
        with socket(ports[0], "cho") as cho:
            # The newcomer is told about earlier arrivals only, and makes the offer...
            connected = _next(cho, "connected")["roomData"]["participants"]
            assert [p["id"] for p in connected] == ["ana", "cho"]
            _signal(cho, "offer", {"to": "ana", "signal": {"type": "offer", "sdp": "c"}})
            # ...which reaches Ana before she hears that Cho joined (so she answers it
            # instead of offering too).
            assert _kinds_until(ana, "participant-joined") == ["offer", "participant-joined"]
            # Ben is admitted but not connected yet: Ana's ICE candidate waits for him.
            _signal(ana, "ice-candidate", {"to": "ben", "candidate": {"candidate": "early"}})
            ana.send(json.dumps({"type": "ping"}))
            _next(ana, "pong")  # the candidate was handled before the ping
            with socket(ports[1], "ben") as ben:
                connected = _next(ben, "connected")["roomData"]["participants"]
                assert [p["id"] for p in connected] == ["ana", "cho", "ben"]
                assert _next(ben, "ice-candidate")["data"]["candidate"] == {"candidate": "early"}
                _signal(ben, "offer", {"to": "ana", "signal": {"type": "offer", "sdp": "x"}})
                offer = _next(ana, "offer")
                assert offer["from"] == "ben" and offer["data"] == {"type": "offer", "sdp": "x"}
                assert _next(ana, "participant-joined")["participant"]["id"] == "ben"
                _signal(ana, "answer", {"to": "ben", "signal": {"type": "answer", "sdp": "y"}})
                assert _next(ben, "answer")["from"] == "ana"
                # Ben never offers to Cho: Cho is told about him after the fallback delay
                # and, as the earlier member, makes that offer herself.
                assert _next(cho, "participant-joined")["participant"]["id"] == "ben"
            assert _next(ana, "participant-left")["userId"] == "ben"
            # Cho, on Ana's process, saw joins and the leave but no signal for others.
            cho.send(json.dumps({"type": "ping"}))
            seen = []
            while (message := json.loads(cho.recv(timeout=20)))["type"] != "pong":
                seen.append(message["type"])
            assert "offer" not in seen and "answer" not in seen and "ice-candidate" not in seen
            assert "participant-left" in seen


def _kinds_until(ws: ClientConnection, last: str) -> list[str]:
    kinds = []
    while not kinds or kinds[-1] != last:
        kinds.append(json.loads(ws.recv(timeout=20))["type"])
    return kinds

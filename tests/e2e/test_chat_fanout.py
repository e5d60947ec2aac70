"""Two ``languagemate api`` processes with no shared memory: a message posted through a
socket on one reaches the subscribers on the other (Redis pub/sub), the sender included,
in the order the event log accepted them."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.e2e.conftest import Processes, two_apis
from tests.e2e.stomp_socket import Client


def _login(base: str, name: str) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/api/v1/auth/dev-login",
        json={"email": f"{name}@example.com", "name": name},
        timeout=30,  # the first write of a topology that has just started: httpx's 5 s is short
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return {"id": data["user"]["id"], "token": data["accessToken"],
            "headers": {"Authorization": f"Bearer {data['accessToken']}"}}  # fmt: skip


def test_messages_fan_out_across_two_api_processes(
    distributed_env: dict[str, str], redis_url: str, processes: Processes
) -> None:
    env = {**distributed_env, "LANGUAGEMATE_REDIS_URL": redis_url}
    ports, bases, _ = two_apis(processes, env, "policies")

    owner, guest = _login(bases[0], "owner"), _login(bases[1], "guest")
    room = httpx.post(f"{bases[0]}/api/v1/chat/rooms", json={"roomName": "Two"},
                      headers=owner["headers"], timeout=30)  # fmt: skip
    assert room.status_code == 200, room.text
    room_id = room.json()["data"]["roomId"]
    joined = httpx.post(f"{bases[1]}/api/v1/chat/rooms/{room_id}/join",
                        headers=guest["headers"], timeout=30)  # fmt: skip
    assert joined.status_code == 200, joined.text

    a = Client(f"ws://127.0.0.1:{ports[0]}/ws/chat", owner["token"])
    b = Client(f"ws://127.0.0.1:{ports[1]}/ws/chat", guest["token"])
    try:
        for client in (a, b):
            client.send("SUBSCRIBE", {"id": "s", "destination": f"/sub/chat/room/{room_id}",
                                      "receipt": "ok"})  # fmt: skip
            assert client.next().command == "RECEIPT"
        texts = [f"line {n}" for n in range(5)]
        for text in texts:
            a.send("SEND", {"destination": "/pub/chat/message"},
                   {"roomId": room_id, "message": text, "messageType": "TEXT"})  # fmt: skip
        on_b = [json.loads(b.next().body)["message"] for _ in texts]
        on_a = [json.loads(a.next().body)["message"] for _ in texts]
        assert on_b == texts and on_a == texts  # both processes, log order, sender included
        # Reconnect and resubscribe: live delivery resumes.
        b.ws.close()
        b = Client(f"ws://127.0.0.1:{ports[1]}/ws/chat", guest["token"])
        b.send(
            "SUBSCRIBE", {"id": "s2", "destination": f"/sub/chat/room/{room_id}", "receipt": "r"}
        )
        assert b.next().command == "RECEIPT"
        a.send("SEND", {"destination": "/pub/chat/message"},
               {"roomId": room_id, "message": "after", "messageType": "TEXT"})  # fmt: skip
        again = b.next()
        assert again.headers["subscription"] == "s2"
        assert json.loads(again.body)["message"] == "after"
    finally:
        a.ws.close()
        b.ws.close()


def test_presence_of_a_killed_api_process_expires(
    distributed_env: dict[str, str], redis_url: str, processes: Processes
) -> None:
    """A crashed process cannot say goodbye: its sockets' presence leases lapse by
    themselves, and the surviving process reports the user offline with a last-seen time."""
    env = {**distributed_env, "LANGUAGEMATE_REDIS_URL": redis_url,
           "LANGUAGEMATE_PRESENCE_TTL_SECONDS": "2"}  # fmt: skip
    ports, bases, (doomed, _) = two_apis(processes, env)
    user, viewer = _login(bases[0], "mortal"), _login(bases[1], "viewer")

    def status() -> dict[str, Any]:
        url = f"{bases[1]}/api/v1/users/{user['id']}/profile"
        deadline = time.monotonic() + 30
        while (response := httpx.get(url, headers=viewer["headers"], timeout=30)).is_error:
            assert time.monotonic() < deadline, response.text  # the account is not projected yet
            time.sleep(0.1)
        data: dict[str, Any] = response.json()["data"]
        return data

    socket = Client(f"ws://127.0.0.1:{ports[0]}/ws/notifications", user["token"])
    time.sleep(3)  # longer than the TTL: the live process keeps renewing the lease
    assert status()["onlineStatus"] == "ONLINE"
    doomed.kill()
    doomed.wait()
    deadline = time.monotonic() + 30
    while (seen := status())["onlineStatus"] == "ONLINE":
        assert time.monotonic() < deadline, "the dead process's socket still counts as online"
        time.sleep(0.2)
    assert seen["lastActiveTime"] is not None
    socket.ws.close()

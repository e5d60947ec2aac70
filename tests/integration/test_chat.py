"""Chat over REST against a running backend (embedded and distributed): rooms opened for
matches, group rooms, membership rules, history, unread counts and idempotent posting."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from app.runtime import Runtime
from commands.base import CommandContext
from commands.chat import PostMessage, post_message
from domain.chat import ChatRoomCreated, direct_room_id
from domain.errors import NotFound
from tests.support import appended_by_requests, signed_in_learner


def _runtime(client: TestClient) -> Runtime:
    return client.app.state.runtime  # type: ignore[attr-defined,no-any-return]


def _post(client: TestClient, user: dict[str, Any], room_id: int, text: str, **extra: Any) -> str:
    outcome = post_message(
        _runtime(client).bus,
        CommandContext(actor_id=user["id"]),
        sender_id=user["id"],
        command=PostMessage(roomId=room_id, message=text, **extra),
    )
    return str(outcome.result["message_id"])


def _rooms(client: TestClient, user: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.get("/api/v1/chat/rooms", headers=user["headers"])
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def _eventually(check: Any, what: str) -> Any:
    deadline = time.monotonic() + 20
    while not (result := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return result


def test_accepting_a_match_opens_one_direct_room_for_both(client: TestClient) -> None:
    mina = signed_in_learner(client, "Mina", native=1, target=2)
    jun = signed_in_learner(client, "Jun", native=2, target=1)
    request_id = client.post(
        "/api/v1/matching/request", json={"targetUserId": jun["id"]}, headers=mina["headers"]
    ).json()["data"]["requestId"]
    accepted = client.post(f"/api/v1/matching/accept/{request_id}", json={}, headers=jun["headers"])
    assert accepted.status_code == 200, accepted.text

    room_id = direct_room_id(mina["id"], jun["id"])
    rooms = _eventually(lambda: _rooms(client, mina), "the match's room never opened")
    assert [r["roomId"] for r in rooms] == [room_id]
    assert rooms[0]["roomName"] == "Jun" and rooms[0]["roomType"] == "DIRECT"
    assert {p["userId"] for p in rooms[0]["participants"]} == {mina["id"], jun["id"]}
    jun_rooms = _eventually(lambda: _rooms(client, jun), "jun")
    assert [r["roomName"] for r in jun_rooms] == ["Mina"]
    # Nobody owns a 1:1 room: the SPA badges the owner "방장" and keeps them from leaving.
    assert rooms[0]["isOwner"] is False and jun_rooms[0]["isOwner"] is False
    # A third person cannot join a 1:1 room.
    ara = signed_in_learner(client, "Ara")
    assert (
        client.post(f"/api/v1/chat/rooms/{room_id}/join", headers=ara["headers"]).status_code == 403
    )
    created = [r for r in _runtime(client).store.read_all() if r.topic == ChatRoomCreated.topic]
    assert len(created) == 1


def test_group_rooms_history_unread_and_idempotent_posting(client: TestClient) -> None:
    owner = signed_in_learner(client, "Owner")
    guest = signed_in_learner(client, "Guest")
    outsider = signed_in_learner(client, "Outsider")
    created = client.post(
        "/api/v1/chat/rooms",
        json={"roomName": "Korean practice", "roomType": "GROUP", "isPublic": True,
              "maxParticipants": 2, "description": "", "participantIds": []},
        headers=owner["headers"],
    )  # fmt: skip
    assert created.status_code == 200, created.text
    room = created.json()["data"]
    room_id = room["roomId"]
    assert isinstance(room_id, int) and room["isOwner"] and room["roomName"] == "Korean practice"
    assert [p["userId"] for p in room["participants"]] == [owner["id"]]

    for _ in range(2):  # the SPA joins on every click
        joined = client.post(f"/api/v1/chat/rooms/{room_id}/join", headers=guest["headers"])
        assert joined.status_code == 200, joined.text
    assert len(joined.json()["data"]["participants"]) == 2
    full = client.post(f"/api/v1/chat/rooms/{room_id}/join", headers=outsider["headers"])
    assert full.status_code == 422 and full.json()["error"]["code"] == "ROOM_FULL"

    first = _post(client, owner, room_id, "안녕하세요", clientMessageId="c-1")
    again = _post(client, owner, room_id, "안녕하세요", clientMessageId="c-1")
    assert again == first  # a resend with the same client id stores one message
    _post(client, guest, room_id, "Hello!")
    head = _runtime(client).store.max_position()
    try:
        _post(client, outsider, room_id, "let me in")
        raise AssertionError("an outsider posted")
    except NotFound:
        pass
    assert appended_by_requests(_runtime(client).store, head) == []  # refused, nothing stored

    def history(user: dict[str, Any]) -> Any:
        return client.get(f"/api/v1/chat/rooms/{room_id}/messages", headers=user["headers"])

    messages = _eventually(lambda: len(history(owner).json()["data"]) == 2 and history(owner), "")
    body = messages.json()["data"]
    assert [m["message"] for m in body] == ["안녕하세요", "Hello!"]  # oldest first
    assert body[0]["sender"]["name"] == "Owner" and body[0]["messageType"] == "TEXT"
    assert history(outsider).status_code == 404  # not a member: looks like no room

    unread = {r["roomId"]: r["unreadCount"] for r in _rooms(client, guest)}
    assert unread[room_id] == 1  # the owner's message; the guest's own does not count
    read = client.post(
        f"/api/v1/chat/read-status/rooms/{room_id}/read-all", headers=guest["headers"]
    )
    assert read.status_code == 200
    assert {r["roomId"]: r["unreadCount"] for r in _rooms(client, guest)}[room_id] == 0

    refused = client.post(f"/api/v1/chat/rooms/{room_id}/leave", headers=owner["headers"])
    assert refused.status_code == 403
    assert (
        client.post(f"/api/v1/chat/rooms/{room_id}/leave", headers=guest["headers"]).status_code
        == 200
    )
    assert _rooms(client, guest) == []


def test_a_deleted_accounts_messages_read_as_erased(client: TestClient) -> None:
    owner = signed_in_learner(client, "Owner")
    guest = signed_in_learner(client, "Guest")
    room_id = client.post(
        "/api/v1/chat/rooms", json={"roomName": "Pair"}, headers=owner["headers"]
    ).json()["data"]["roomId"]
    client.post(f"/api/v1/chat/rooms/{room_id}/join", headers=guest["headers"])
    _post(client, owner, room_id, "my phone number is 010-1234-5678")
    _post(client, guest, room_id, "thanks")
    deleted = client.request(
        "DELETE", "/api/v1/settings/account", json={}, headers=owner["headers"]
    )
    assert deleted.status_code == 200, deleted.text

    def texts() -> list[str]:
        body = client.get(f"/api/v1/chat/rooms/{room_id}/messages", headers=guest["headers"])
        return [m["message"] for m in body.json()["data"]]

    _eventually(lambda: texts() == ["[erased]", "thanks"], f"still readable: {texts()}")


def test_chat_images_are_reencoded_without_metadata_for_members_only(client: TestClient) -> None:
    import io

    from PIL import Image

    owner, outsider = signed_in_learner(client, "Owner"), signed_in_learner(client, "Outsider")
    room_id = client.post(
        "/api/v1/chat/rooms", json={"roomName": "Pics"}, headers=owner["headers"]
    ).json()["data"]["roomId"]
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # camera make; GPS and the like travel the same way
    photo = io.BytesIO()
    Image.new("RGB", (80, 40), (200, 30, 30)).save(photo, format="JPEG", exif=exif.tobytes())
    files = [("files", ("a.jpg", photo.getvalue(), "image/jpeg"))]
    uploaded = client.post(f"/api/v1/chat/rooms/{room_id}/images", files=files,
                           headers=owner["headers"])  # fmt: skip
    assert uploaded.status_code == 200, uploaded.text
    (url,) = uploaded.json()["data"]
    served = client.get(url)
    assert served.status_code == 200 and served.headers["content-type"] == "image/webp"
    image = Image.open(io.BytesIO(served.content))
    assert image.size == (80, 40)  # the whole picture, not a square crop
    assert b"SpyCam" not in served.content and not image.getexif()

    refused = client.post(f"/api/v1/chat/rooms/{room_id}/images", files=files,
                          headers=outsider["headers"])  # fmt: skip
    assert refused.status_code == 404
    text = [("files", ("a.txt", b"hello", "text/plain"))]
    bad = client.post(f"/api/v1/chat/rooms/{room_id}/images", files=text, headers=owner["headers"])
    assert bad.status_code == 422 and bad.json()["code"] == "IMAGE_UNSUPPORTED_TYPE"

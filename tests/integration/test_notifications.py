"""Notifications from matching events: listed, counted, read, deleted, pushed live, once."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from fastapi.testclient import TestClient

from app.runtime import Runtime
from commands.base import CommandContext
from commands.notifications import notify
from domain.aggregate import Cause
from domain.chat import ChatMessage, ChatRoom, message_aggregate_id, room_aggregate_id
from domain.matching import MatchRequested
from domain.notifications import NotificationCreated
from tests.support import StompClient, signed_in_learner, token_of


def _inbox(client: TestClient, user: dict[str, Any], query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/v1/notifications?{query}", headers=user["headers"])
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def _eventually_inbox(client: TestClient, user: dict[str, Any], count: int) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while len((inbox := _inbox(client, user))["notifications"]) < count:
        assert time.monotonic() < deadline, inbox
        time.sleep(0.05)
    return inbox


def test_match_events_notify_the_other_person_live_and_in_the_list(client: TestClient) -> None:
    mina = signed_in_learner(client, "Mina", native=1, target=2)
    jun = signed_in_learner(client, "Jun", native=2, target=1)
    for user in (mina, jun):  # the match also unlocks an achievement: this test is matching's
        client.patch("/api/v1/settings/notifications", json={"pushAchievements": False},
                     headers=user["headers"])  # fmt: skip
    with client.websocket_connect(f"/ws/notifications?token={token_of(jun)}") as ws:
        socket = StompClient(ws)
        socket.send("CONNECT", {"accept-version": "1.2"})
        assert socket.next().command == "CONNECTED"
        socket.send("SUBSCRIBE", {"id": "n", "destination": "/user/queue/notifications",
                                  "receipt": "r"})  # fmt: skip
        assert socket.next().command == "RECEIPT"
        request_id = client.post(
            "/api/v1/matching/request", json={"targetUserId": jun["id"]}, headers=mina["headers"]
        ).json()["data"]["requestId"]
        pushed = json.loads(socket.next().body)
    assert pushed["type"] == "match_request" and pushed["category"] == "MATCHING"
    assert pushed["message"] == "Mina님이 언어 교환을 요청했어요."  # Korean by default
    assert pushed["clickUrl"] == "/matching" and pushed["data"]["userId"] == mina["id"]

    inbox = _eventually_inbox(client, jun, 1)
    assert inbox["unreadCount"] == 1 and inbox["notifications"][0]["id"] == pushed["id"]
    assert inbox["pagination"] == {"page": 1, "size": 20, "totalElements": 1, "totalPages": 1,
                                   "hasNext": False}  # fmt: skip
    assert _inbox(client, mina)["notifications"] == []

    client.patch("/api/v1/settings/language", json={"appLanguage": "en"}, headers=mina["headers"])
    client.post(f"/api/v1/matching/accept/{request_id}", json={}, headers=jun["headers"])
    accepted = _eventually_inbox(client, mina, 1)["notifications"][0]
    assert accepted["type"] == "match_accepted"
    assert accepted["message"] == "Jun accepted your request. Say hello!"

    # Someone else's notification looks missing; the owner's is read, then deleted.
    assert client.patch(f"/api/v1/notifications/{pushed['id']}/read",
                        headers=mina["headers"]).status_code == 404  # fmt: skip
    assert client.patch(f"/api/v1/notifications/{pushed['id']}/read",
                        headers=jun["headers"]).status_code == 200  # fmt: skip
    count = client.get("/api/v1/notifications/unread-count", headers=jun["headers"])
    assert count.json()["data"] == {"unreadCount": 0}
    read_all = client.patch("/api/v1/notifications/read-all", headers=mina["headers"])
    assert read_all.json()["data"]["unreadCount"] == 0
    assert _inbox(client, mina, "unreadOnly=true")["notifications"] == []
    batch = {"notificationIds": [pushed["id"]]}
    gone = client.request(
        "DELETE", "/api/v1/notifications/batch", json=batch, headers=jun["headers"]
    )
    assert gone.status_code == 200
    assert _inbox(client, jun)["notifications"] == []


def test_a_redelivered_event_notifies_once(client: TestClient) -> None:
    mina = signed_in_learner(client, "Mina", native=1, target=2)
    jun = signed_in_learner(client, "Jun", native=2, target=1)
    client.post(
        "/api/v1/matching/request", json={"targetUserId": jun["id"]}, headers=mina["headers"]
    )
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    _eventually_inbox(client, jun, 1)
    request = next(r.decode() for r in rt.store.read_all() if r.topic == MatchRequested.topic)
    for _ in range(2):  # the notifier's command again, as after a crash before its tracking
        notify(rt.bus, CommandContext(actor_id="policy"), request, recipient_id=jun["id"],
               kind="match_request", category="MATCHING", click_url="/matching",
               data={"userId": mina["id"]})  # fmt: skip
    created = [r for r in rt.store.read_all() if r.topic == NotificationCreated.topic]
    assert len(created) == 1


def test_chat_messages_notify_only_members_not_watching_the_room(client: TestClient) -> None:
    owner, guest = signed_in_learner(client, "Owner"), signed_in_learner(client, "Guest")
    room_id = client.post(
        "/api/v1/chat/rooms", json={"roomName": "Pair"}, headers=owner["headers"]
    ).json()["data"]["roomId"]
    client.post(f"/api/v1/chat/rooms/{room_id}/join", headers=guest["headers"])
    destination = f"/sub/chat/room/{room_id}"
    with (
        client.websocket_connect("/ws/chat") as ws_owner,
        client.websocket_connect("/ws/chat") as ws_guest,
    ):
        sender, reader = StompClient(ws_owner), StompClient(ws_guest)
        assert sender.connect(token_of(owner)).command == "CONNECTED"
        assert reader.connect(token_of(guest)).command == "CONNECTED"
        reader.send("SUBSCRIBE", {"id": "s", "destination": destination, "receipt": "in"})
        assert reader.next().command == "RECEIPT"

        def post(text: str) -> None:
            sender.send("SEND", {"destination": "/pub/chat/message", "receipt": text},
                        {"roomId": room_id, "message": text})  # fmt: skip
            assert sender.next().headers["receipt-id"] == text

        post("while you watch")
        assert json.loads(reader.next().body)["message"] == "while you watch"
        reader.send("UNSUBSCRIBE", {"id": "s", "receipt": "out"})
        assert reader.next().headers["receipt-id"] == "out"
        post("while you look away")
    chats = [n for n in _eventually_inbox(client, guest, 1)["notifications"] if n["type"] == "chat"]
    assert len(chats) == 1  # the first message, read live, notified nobody
    assert chats[0]["data"] == {"userId": owner["id"], "roomId": room_id}
    assert (
        chats[0]["message"] == "Owner님의 새 메시지가 있어요." and chats[0]["clickUrl"] == "/chat"
    )
    assert _inbox(client, owner)["notifications"] == []  # never about one's own messages


def test_who_hears_of_a_chat_message_follows_from_the_event_alone(client: TestClient) -> None:
    """The notifier reads a message's recipients from its event (the room as it was when the
    message was posted), not from the read model as it is when the policy gets there: here
    the read model has no such room at all, and the member is still told."""
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    owner, guest = signed_in_learner(client, "Owner"), signed_in_learner(client, "Guest")
    cause = Cause(occurred_at=datetime.now(UTC), correlation_id=uuid4())
    room = ChatRoom(room_aggregate_id(987_654))  # never stored: no read model knows it
    room.create(cause, room_id=987_654, name="Gone", room_type="GROUP", is_public=False,
                max_participants=5, created_by=owner["id"],
                participant_ids=[guest["id"]])  # fmt: skip
    message = ChatMessage(message_aggregate_id(987_654, "m"))
    message.post(cause, room, sender_id=owner["id"], client_message_id="m", text="still there?",
                 image_urls=[], audio_url=None, audio_duration=None)  # fmt: skip
    rt.store.append(message.collect())
    chats = [n for n in _eventually_inbox(client, guest, 1)["notifications"] if n["type"] == "chat"]
    assert [n["data"] for n in chats] == [{"userId": owner["id"], "roomId": 987_654}]


def test_a_chat_message_stored_before_events_named_their_members_notifies_from_the_room(
    client: TestClient,
) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    owner, guest = signed_in_learner(client, "Owner"), signed_in_learner(client, "Guest")
    room_id = client.post(
        "/api/v1/chat/rooms", json={"roomName": "Pair"}, headers=owner["headers"]
    ).json()["data"]["roomId"]
    client.post(f"/api/v1/chat/rooms/{room_id}/join", headers=guest["headers"])
    room = rt.store.load(ChatRoom, room_aggregate_id(room_id))
    assert room is not None
    message = ChatMessage(message_aggregate_id(room_id, "old"))
    message.post(Cause(occurred_at=datetime.now(UTC), correlation_id=uuid4()), room,
                 sender_id=owner["id"], client_message_id="old", text="from last year",
                 image_urls=[], audio_url=None, audio_duration=None)  # fmt: skip
    rt.store.append([e.model_copy(update={"members": None}) for e in message.collect()])
    chats = [n for n in _eventually_inbox(client, guest, 1)["notifications"] if n["type"] == "chat"]
    assert [n["data"] for n in chats] == [{"userId": owner["id"], "roomId": room_id}]


def _cached_count(rt: Runtime, user_id: str) -> int | None:
    cached = rt.redis.get(f"notifications:unread:{user_id}")
    return None if cached is None else int(cached.split(b":")[2])


def test_unread_counts_live_in_redis_follow_every_change_and_survive_a_wipe(
    client: TestClient,
) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    jun = signed_in_learner(client, "Jun", native=2, target=1)
    senders = [signed_in_learner(client, f"Sender{n}", native=1, target=2) for n in range(3)]
    for sender in senders:
        client.post("/api/v1/matching/request", json={"targetUserId": jun["id"]},
                    headers=sender["headers"])  # fmt: skip
    inbox = _eventually_inbox(client, jun, 3)
    deadline = time.monotonic() + 20
    while _cached_count(rt, jun["id"]) != 3:  # counted as the projector commits
        assert time.monotonic() < deadline, _cached_count(rt, jun["id"])
        time.sleep(0.05)

    first = inbox["notifications"][0]["id"]
    client.patch(f"/api/v1/notifications/{first}/read", headers=jun["headers"])
    assert _cached_count(rt, jun["id"]) == 2  # refreshed by the request that read it

    rt.redis.delete(f"notifications:unread:{jun['id']}")  # Redis wiped
    count = client.get("/api/v1/notifications/unread-count", headers=jun["headers"])
    assert count.json()["data"] == {"unreadCount": 2}
    assert _cached_count(rt, jun["id"]) == 2  # counted again from the read model

    # A count tagged with a later projection version or progress is never replaced by an
    # older one (a slow writer), whatever the count; one refresh counts and stores many
    # users, each key keeping the newer of its two tags.
    rt.redis.set(f"notifications:unread:{jun['id']}", f"1:{10**15}:7")
    rt.redis.set(f"notifications:unread:{senders[0]['id']}", "1:0:5")  # older: replaced
    refreshed = rt.unread_counters.refresh_many([jun["id"], senders[0]["id"], senders[1]["id"]])
    assert refreshed == {jun["id"]: 2, senders[0]["id"]: 0, senders[1]["id"]: 0}
    assert _cached_count(rt, jun["id"]) == 7
    assert _cached_count(rt, senders[0]["id"]) == 0
    assert _cached_count(rt, senders[1]["id"]) == 0  # a missing key is stored
    rt.redis.delete(f"notifications:unread:{jun['id']}")
    client.patch("/api/v1/notifications/read-all", headers=jun["headers"])
    assert client.get("/api/v1/notifications/unread-count",
                      headers=jun["headers"]).json()["data"] == {"unreadCount": 0}  # fmt: skip


def test_a_category_switched_off_in_settings_notifies_nothing(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    mina = signed_in_learner(client, "Mina", native=1, target=2)
    jun = signed_in_learner(client, "Jun", native=2, target=1)
    muted = client.patch("/api/v1/settings/notifications", json={"pushMatching": False},
                         headers=jun["headers"])  # fmt: skip
    assert muted.status_code == 200 and muted.json()["pushMatching"] is False
    request_id = client.post(
        "/api/v1/matching/request", json={"targetUserId": jun["id"]}, headers=mina["headers"]
    ).json()["data"]["requestId"]
    client.post(f"/api/v1/matching/accept/{request_id}", json={}, headers=jun["headers"])
    _eventually_inbox(client, mina, 1)  # Mina did not mute matching: she hears of it
    request = next(r for r in rt.store.read_all() if r.topic == MatchRequested.topic)
    assert rt.reacted_upto("policies.commands") >= request.position
    muted = [n for n in _inbox(client, jun)["notifications"] if n["category"] == "MATCHING"]
    assert muted == []  # (the match's achievement is another category, still on)


def test_one_message_notifies_every_member_who_is_away(client: TestClient) -> None:
    """One event, several recipients: each gets their own notification (a command per
    recipient, not one idempotency key for all)."""
    owner = signed_in_learner(client, "Owner")
    away = [signed_in_learner(client, name) for name in ("Ada", "Bo", "Cy")]
    room_id = client.post("/api/v1/chat/rooms", json={"roomName": "Four"},
                          headers=owner["headers"]).json()["data"]["roomId"]  # fmt: skip
    for user in away:
        client.post(f"/api/v1/chat/rooms/{room_id}/join", headers=user["headers"])
    with client.websocket_connect("/ws/chat") as ws:
        sender = StompClient(ws)
        assert sender.connect(token_of(owner)).command == "CONNECTED"
        sender.send("SEND", {"destination": "/pub/chat/message", "receipt": "sent"},
                    {"roomId": room_id, "message": "hello all"})  # fmt: skip
        assert sender.next().headers["receipt-id"] == "sent"
    for user in away:
        chats = [n for n in _eventually_inbox(client, user, 1)["notifications"]
                 if n["type"] == "chat"]  # fmt: skip
        assert len(chats) == 1

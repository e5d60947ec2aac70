"""Who may call what: every route of the app, anonymous callers, and other users' resources.

The matrix is built from the app itself, so a new route cannot slip past it:

* every route is either in :data:`PUBLIC` (with the reason it is open) or must refuse an
  anonymous caller with 401 (sockets: an ERROR frame or a closed socket);
* every route with a path parameter must also be classified as :data:`OWNED` (it names a
  resource that belongs to someone: another user gets 403/404 and changes nothing) or
  :data:`SHARED` (it names something any signed-in user may see or use); a route without
  one acts on the caller's own data by construction (the caller comes from the token).
  Admin routes are classified by their prefix; their 403 for non-admins is
  ``test_history.py::test_every_admin_route_refuses_non_admins``. Push devices are
  checked in test_web_push.py, which has the push service settings they need.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Route
from starlette.websockets import WebSocketDisconnect

from app.runtime import Runtime
from tests.support import (
    appended_by_requests,
    matched_learners,
    signed_in_learner,
    stomp_connect,
    token_of,
    wait_for,
)

pytestmark = pytest.mark.parametrize("client", ["embedded"], indirect=True)

PUBLIC = {
    # Service and documentation endpoints.
    ("GET", "/health"), ("GET", "/api/v1/health"), ("GET", "/metrics"),
    ("GET", "/health/live"), ("GET", "/health/ready"),  # probes of orchestrators
    ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    # The front door (version, mode, health summary, links) and the AsyncAPI document,
    # public like /health and /openapi.json: shapes and status only (test_front_door.py).
    ("GET", "/"), ("GET", "/asyncapi.json"),
    # The admin dashboard answers with its own sign-in page (cookie session, test_dashboard).
    ("GET", "/admin/login"), ("POST", "/admin/login"), ("GET", "/admin/dashboard"),
    ("GET", "/admin/assets/plotly.min.js"),
    # Signing in (contract 4.1) and OAuth redirects.
    ("POST", "/api/v1/auth/dev-login"), ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/refresh"),
    ("GET", "/api/v1/auth/login/{provider}"), ("GET", "/api/v1/login/{provider}"),
    ("GET", "/api/v1/auth/callback/{provider}"), ("GET", "/login/oauth2/code/{provider}"),
    # Onboarding catalogues, read before an account has a profile (contract 4.2).
    ("GET", "/api/v1/onboarding/language/languages"),
    ("GET", "/api/v1/onboarding/language/level-types-language"),
    ("GET", "/api/v1/onboarding/language/level-types-partner"),
    ("GET", "/api/v1/onboarding/interest/motivations"),
    ("GET", "/api/v1/onboarding/interest/topics"),
    ("GET", "/api/v1/onboarding/interest/learning-styles"),
    ("GET", "/api/v1/onboarding/interest/learning-expectations"),
    ("GET", "/api/v1/onboarding/partner/gender-type"),
    ("GET", "/api/v1/onboarding/partner/personalities"),
    ("GET", "/api/v1/onboarding/schedule/communication-methods"),
    ("GET", "/api/v1/onboarding/schedule/group-sizes"),
    ("GET", "/api/v1/onboarding/schedule/daily-methods"),
    ("GET", "/api/v1/users/locations"), ("GET", "/api/v1/users/gender-type"),
    # Capability URLs: stored files under unguessable keys (img/audio tags send no token)
    # and signed, expiring export links.
    ("GET", "/api/v1/upload/file/{key}"),
    ("GET", "/api/v1/settings/export/{user_id}/{request_id}"),
    # WebRTC rooms: the SPA calls them with fetch and no token; the socket admits only
    # users who joined (or hold a signed room token), see test_rooms.py.
    ("POST", "/api/v1/room/create"), ("POST", "/api/v1/room/{room_id}/join"),
    ("POST", "/api/v1/room/{room_id}/leave"), ("GET", "/api/v1/room/{room_id}/info"),
    ("GET", "/api/v1/room/{room_id}/ice-servers"),
}  # fmt: skip

OWNED = {
    "/api/v1/chat/rooms/{room_id}/leave", "/api/v1/chat/read-status/rooms/{room_id}/read-all",
    "/api/v1/chat/rooms/{room_id}/messages", "/api/v1/chat/rooms/{room_id}/images",
    "/api/v1/chat/read-status/rooms/{room_id}/unread-count",
    "/api/v1/notifications/{notification_id}/read", "/api/v1/notifications/{notification_id}",
    "/api/v1/level-test/voice/{test_id}/upload", "/api/v1/level-test/{test_id}/audio-answer",
    "/api/v1/level-test/voice/{test_id}/analyze", "/api/v1/level-test/{test_id}/complete",
    "/api/v1/level-test/voice/{test_id}/result", "/api/v1/level-test/{test_id}/cancel",
    "/api/v1/level-test/{test_id}/answer/{question_id}/detailed",
    "/api/v1/level-test/{test_id}",
    "/api/v1/matching/accept/{request_id}", "/api/v1/matching/reject/{request_id}",
    "/api/v1/matching/requests/{request_id}", "/api/v1/matching/matches/{match_id}",
    "/api/v1/sessions/{session_id}", "/api/v1/sessions/{session_id}/accept",
    "/api/v1/sessions/{session_id}/decline", "/api/v1/sessions/{session_id}/cancel",
    "/api/v1/sessions/{session_id}/start", "/api/v1/sessions/{session_id}/end",
    "/api/v1/sessions/{session_id}/complete", "/api/v1/sessions/{session_id}/no-show",
    "/api/v1/sessions/{session_id}/reschedule",
    # Group sessions are open to join; their host controls are owned by the host.
    "/api/v1/group-sessions/{session_id}/start", "/api/v1/group-sessions/{session_id}/end",
    "/api/v1/group-sessions/{session_id}/cancel",
    "/api/v1/group-sessions/{session_id}/kick/{user_id}",
}  # fmt: skip

SHARED = {
    # Public profiles and what partner search shows of them (privacy settings applied).
    "/api/v1/users/{user_id}/language-info", "/api/v1/users/{user_id}/motivation-info",
    "/api/v1/users/{user_id}/schedule-info", "/api/v1/users/{user_id}/profile",
    "/api/v1/onboarding/{user_id}/summary", "/api/v1/matching/compatibility/{partner_id}",
    # Acting on another user is the point: blocking and reporting them.
    "/api/v1/matching/block/{user_id}", "/api/v1/matching/report/{user_id}",
    # Public group rooms and group sessions anyone may find and join.
    "/api/v1/chat/rooms/{room_id}/join", "/api/v1/group-sessions/{session_id}",
    "/api/v1/group-sessions/{session_id}/join", "/api/v1/group-sessions/{session_id}/leave",
    # The achievement catalogue; claims are checked against the caller's own progress.
    "/api/v1/achievements/category/{category}",
    "/api/v1/achievements/{achievement_id}/claim-reward",
}  # fmt: skip

SOCKETS = {"/ws/chat", "/ws/notifications", "/api/v1/room/{room_id}/ws"}
ADMIN_PREFIX = "/api/v1/admin"
_PARAM = re.compile(r"\{(\w+)(:\w+)?\}")


def _routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path template) of every HTTP route, and ("WS", path) of every socket."""
    found = []
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", context.path_format or "")
        if isinstance(route, APIWebSocketRoute):
            found.append(("WS", path))
        elif isinstance(route, APIRoute | Route):
            found += [(m, path) for m in sorted(context.methods or ()) if m != "HEAD"]
    return found


_FILLERS = {"provider": "google", "category": "LEARNING", "key": "x/y.png"}
_NUMERIC = {"room_id", "test_id", "question_id"}


def _concrete(path: str) -> str:
    """A well-formed path: values each parameter's validator accepts, pointing at nothing."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _FILLERS:
            return _FILLERS[name]
        return "1" if name in _NUMERIC else "00000000-0000-4000-8000-000000000001"

    return _PARAM.sub(fill, path)


def test_every_route_is_classified(client: TestClient) -> None:
    """A new route must be placed in the matrix before it can ship."""
    routes = _routes(client)
    assert len(routes) > 150
    known = {path for _, path in PUBLIC} | OWNED | SHARED | SOCKETS
    unclassified = [
        (method, path)
        for method, path in routes
        if "{" in path and path not in known and not path.startswith(ADMIN_PREFIX)
    ]
    assert unclassified == [], "classify these routes in test_authorization_matrix.py"
    assert set(PUBLIC) <= set(routes), "PUBLIC names routes that no longer exist"
    assert {path for _, path in routes} >= OWNED | SHARED, "stale entries"
    assert {path for method, path in routes if method == "WS"} == SOCKETS


def test_every_non_public_route_refuses_anonymous_callers(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    head = rt.store.max_position()
    checked = 0
    for method, path in _routes(client):
        if method == "WS" or (method, path) in PUBLIC:
            continue
        response = client.request(method, _concrete(path), json={})
        assert response.status_code == 401, (method, path, response.status_code, response.text)
        assert response.json()["success"] is False
        checked += 1
    assert checked > 130
    assert appended_by_requests(rt.store, head) == []


def test_sockets_refuse_anonymous_callers(client: TestClient) -> None:
    for path in ("/ws/chat", "/ws/notifications"):
        with client.websocket_connect(path) as ws:
            error = stomp_connect(ws, token=None)
            assert (error.command, error.headers["message"]) == ("ERROR", "Unauthorized")
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1008
    room = client.post("/api/v1/room/create", json={"roomType": "video", "maxParticipants": 2})
    room_id = room.json()["data"]["roomId"]
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect(f"/api/v1/room/{room_id}/ws") as ws,
    ):
        ws.receive_json()


def _refused(client: TestClient, rt: Runtime, who: dict[str, Any],
             calls: list[tuple[str, str, dict[str, Any]]]) -> None:  # fmt: skip
    """Each call by ``who`` is refused with 403 or 404 and stores nothing."""
    head = rt.store.max_position()
    for method, path, kwargs in calls:
        response = client.request(method, path, headers=who["headers"], **kwargs)
        assert response.status_code in (403, 404), (method, path, response.text)
    assert appended_by_requests(rt.store, head) == [], calls


def test_another_users_chat_room_cannot_be_read_or_changed(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    owner, other = signed_in_learner(client, "Roomy"), signed_in_learner(client, "Nosy")
    room_id = client.post("/api/v1/chat/rooms", json={"roomName": "Mine"},
                          headers=owner["headers"]).json()["data"]["roomId"]  # fmt: skip
    image = {"files": {"files": ("a.png", b"\x89PNG\r\n\x1a\n", "image/png")}}
    _refused(client, rt, other, [
        ("GET", f"/api/v1/chat/rooms/{room_id}/messages", {}),
        ("GET", f"/api/v1/chat/read-status/rooms/{room_id}/unread-count", {}),
        ("POST", f"/api/v1/chat/read-status/rooms/{room_id}/read-all", {}),
        ("POST", f"/api/v1/chat/rooms/{room_id}/leave", {}),
        ("POST", f"/api/v1/chat/rooms/{room_id}/images", image),
    ])  # fmt: skip
    for path in (f"/api/v1/chat/rooms/{room_id}/messages",
                 f"/api/v1/chat/read-status/rooms/{room_id}/unread-count"):  # fmt: skip
        assert client.get(path, headers=owner["headers"]).status_code == 200, path
    assert client.post(f"/api/v1/chat/read-status/rooms/{room_id}/read-all",
                       headers=owner["headers"]).status_code == 200  # fmt: skip


def test_another_users_match_request_match_and_notifications_are_out_of_reach(
    client: TestClient,
) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    mina, jun, request_id = matched_learners(client, accept=False)
    intruder = signed_in_learner(client, "Intruder")
    notifications = wait_for(
        lambda: client.get("/api/v1/notifications", headers=jun["headers"]).json()["data"][
            "notifications"
        ],
        "the match request notification",
    )
    notification_id = notifications[0]["id"]
    _refused(client, rt, intruder, [
        ("POST", f"/api/v1/matching/accept/{request_id}", {"json": {}}),
        ("POST", f"/api/v1/matching/reject/{request_id}", {"json": {}}),
        ("DELETE", f"/api/v1/matching/requests/{request_id}", {}),
        ("PATCH", f"/api/v1/notifications/{notification_id}/read", {}),
        ("DELETE", f"/api/v1/notifications/{notification_id}", {}),
    ])  # fmt: skip
    head = rt.store.max_position()
    batch = client.request("DELETE", "/api/v1/notifications/batch", headers=intruder["headers"],
                           json={"notificationIds": [notification_id]})  # fmt: skip
    assert batch.status_code in (200, 403, 404), batch.text
    assert appended_by_requests(rt.store, head) == []
    assert client.patch(f"/api/v1/notifications/{notification_id}/read",
                        headers=jun["headers"]).status_code == 200  # fmt: skip
    accepted = client.post(f"/api/v1/matching/accept/{request_id}", json={},
                           headers=jun["headers"])  # fmt: skip
    assert accepted.status_code == 200, accepted.text
    match_id = wait_for(
        lambda: client.get("/api/v1/matching/matches", headers=mina["headers"]).json()["data"],
        "the match",
    )[0]["matchId"]
    _refused(client, rt, intruder, [("DELETE", f"/api/v1/matching/matches/{match_id}", {})])
    assert client.delete(f"/api/v1/matching/matches/{match_id}",
                         headers=mina["headers"]).status_code == 200  # fmt: skip


def test_another_users_session_cannot_be_seen_or_acted_on(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    mina, jun, _ = matched_learners(client)
    intruder = signed_in_learner(client, "Intruder")
    starts = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    proposed = client.post("/api/v1/sessions", headers=mina["headers"], json={
        "partnerId": jun["id"], "scheduledAt": starts, "duration": 30, "language": "en",
        "type": "video", "title": "Chat"})  # fmt: skip
    assert proposed.status_code == 200, proposed.text
    base = f"/api/v1/sessions/{proposed.json()['data']['id']}"
    moved = {"json": {"scheduledAt": starts, "duration": 45}}
    actions = ("accept", "decline", "cancel", "start", "end", "complete", "no-show")
    _refused(client, rt, intruder, [
        ("GET", base, {}), ("PATCH", f"{base}/reschedule", moved),
        *[("POST", f"{base}/{action}", {"json": {}}) for action in actions],
    ])  # fmt: skip
    assert client.get(base, headers=jun["headers"]).status_code == 200
    assert client.post(f"{base}/accept", json={}, headers=jun["headers"]).status_code == 200


def test_a_group_session_is_controlled_by_its_host_only(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    host = signed_in_learner(client, "Host", native=2, target=1)
    member = signed_in_learner(client, "Member", native=1, target=2)
    created = client.post("/api/v1/group-sessions", headers=host["headers"], json={
        "title": "Cafe English", "topicCategory": "food", "targetLanguage": "en",
        "levelMin": "A1", "levelMax": "C2", "maxParticipants": 4,
        "scheduledAt": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "sessionDuration": 60})  # fmt: skip
    assert created.status_code == 200, created.text
    base = f"/api/v1/group-sessions/{created.json()['data']['id']}"
    assert client.post(f"{base}/join", headers=member["headers"]).status_code == 200
    _refused(client, rt, member, [
        ("POST", f"{base}/start", {}), ("POST", f"{base}/end", {}),
        ("POST", f"{base}/cancel", {"json": {}}), ("POST", f"{base}/kick/{host['id']}", {}),
    ])  # fmt: skip
    assert client.post(f"{base}/kick/{member['id']}", headers=host["headers"]).status_code == 200


def test_another_users_level_test_is_invisible(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    owner, other = signed_in_learner(client, "Tester"), signed_in_learner(client, "Peeker")
    body = {"languageCode": "English", "currentLevel": "Intermediate"}
    started = client.post("/api/v1/level-test/voice/start", headers=owner["headers"], json=body)
    assert started.status_code == 200, started.text
    test_id = started.json()["data"]["testId"]
    audio = {"files": {"audio": ("a.wav", b"RIFF", "audio/wav")}}
    _refused(client, rt, other, [
        ("GET", f"/api/v1/level-test/{test_id}", {}),
        ("GET", f"/api/v1/level-test/voice/{test_id}/result", {}),
        ("GET", f"/api/v1/level-test/{test_id}/answer/1/detailed", {}),
        ("POST", f"/api/v1/level-test/voice/{test_id}/analyze", {}),
        ("POST", f"/api/v1/level-test/{test_id}/complete", {}),
        ("POST", f"/api/v1/level-test/{test_id}/cancel", {}),
        ("POST", f"/api/v1/level-test/voice/{test_id}/upload", audio),
        ("POST", f"/api/v1/level-test/{test_id}/audio-answer",
         {**audio, "data": {"questionId": "1"}}),
    ])  # fmt: skip
    assert client.get(f"/api/v1/level-test/{test_id}", headers=owner["headers"]).status_code == 200
    mine = client.get("/api/v1/level-test/my-tests", headers=other["headers"]).json()["data"]
    assert str(test_id) not in str(mine)


def test_another_users_profile_shows_no_private_data(client: TestClient) -> None:
    owner, viewer = signed_in_learner(client, "Private"), signed_in_learner(client, "Viewer")
    own = client.get("/api/v1/users/profile", headers=owner["headers"]).json()
    seen = client.get(f"/api/v1/users/{owner['id']}/profile", headers=viewer["headers"])
    assert seen.status_code == 200
    assert "private@example.com" in str(own) and "private@example.com" not in seen.text


def test_the_chat_socket_refuses_another_users_room(client: TestClient) -> None:
    """Member-only subscriptions and SENDs, seen from the matrix's side: the outsider gets
    no receipt and stores nothing (test_chat_socket.py covers the delivery)."""
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    owner, other = signed_in_learner(client, "Holder"), signed_in_learner(client, "Lurker")
    room_id = client.post("/api/v1/chat/rooms", json={"roomName": "Mine"},
                          headers=owner["headers"]).json()["data"]["roomId"]  # fmt: skip
    head = rt.store.max_position()
    with client.websocket_connect("/ws/chat") as ws:
        assert stomp_connect(ws, token_of(other)).command == "CONNECTED"
        ws.send_text(f"SUBSCRIBE\nid:s\ndestination:/sub/chat/room/{room_id}\nreceipt:sub\n\n\x00")
        body = f'{{"roomId":{room_id},"message":"hi"}}'
        ws.send_text(f"SEND\ndestination:/pub/chat/message\nreceipt:send\n\n{body}\x00")
        ws.send_text("DISCONNECT\nreceipt:bye\n\n\x00")
        assert "receipt-id:bye" in ws.receive_text()  # the first answer: no sub, no send
    assert appended_by_requests(rt.store, head) == []

"""Forged and misused tokens at the doors a client really uses: a protected route, the
refresh endpoint and the STOMP CONNECT of the chat and notification sockets.

The token module's own refusals are unit tests (tests/unit/test_tokens.py), and expired or
swapped tokens on HTTP routes are in test_identity_sessions.py; this checks that every
door asks that module, with the right expected type, and that a forgery changes nothing:
it must not log anyone in, and it must not revoke the victim's session family either.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.runtime import Runtime
from devservices.settings import TEST_JWT_KEYS
from tests.support import appended_by_requests, stomp_connect

pytestmark = pytest.mark.parametrize("client", ["embedded"], indirect=True)

KID, SECRET = TEST_JWT_KEYS.split(":", 1)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _forgeries(genuine: str, victim_id: str) -> dict[str, str]:
    """Tokens an attacker can make from a token of their own (same claims, same kid)."""
    header = jwt.get_unverified_header(genuine)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    head, body, signature = genuine.split(".")
    past = int(time.time()) - 3600
    expired = {**claims, "iat": past - 900, "exp": past}
    return {
        "alg none": f"{_b64({**header, 'alg': 'none'})}.{body}.",
        "wrong key": jwt.encode(claims, "x" * 48, "HS256", headers={"kid": KID}),
        "other algorithm": jwt.encode(claims, SECRET, "HS512", headers={"kid": KID}),
        "expired": jwt.encode(expired, SECRET, "HS256", headers={"kid": KID}),
        "tampered payload": f"{head}.{_b64({**claims, 'sub': victim_id})}.{signature}",
        "signature cut": f"{head}.{body}.",
    }


def _login(client: TestClient, name: str) -> dict[str, Any]:
    response = client.post(
        "/api/v1/auth/dev-login", json={"email": f"{name}@example.com", "name": name}
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_forged_access_tokens_are_refused_by_protected_routes(client: TestClient) -> None:
    attacker, victim = _login(client, "mallory"), _login(client, "alice")
    forged = _forgeries(attacker["accessToken"], victim["user"]["id"])
    assert client.get("/api/v1/users/profile", headers=_bearer(attacker["accessToken"])).is_success
    for name, token in forged.items():
        response = client.get("/api/v1/users/profile", headers=_bearer(token))
        assert response.status_code == 401, (name, response.text)
        assert response.json()["code"] == "AUTH_ERROR"


def test_forged_refresh_tokens_neither_rotate_nor_revoke_the_family(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    attacker, victim = _login(client, "mallory"), _login(client, "alice")
    head = rt.store.max_position()
    for name, token in _forgeries(victim["refreshToken"], attacker["user"]["id"]).items():
        response = client.post("/api/v1/auth/refresh", headers=_bearer(token))
        assert response.status_code == 401, (name, response.text)
    assert appended_by_requests(rt.store, head) == []
    rotated = client.post("/api/v1/auth/refresh", headers=_bearer(victim["refreshToken"]))
    assert rotated.status_code == 200, "a forgery revoked the victim's sessions"


@pytest.mark.parametrize("socket", ["/ws/chat", "/ws/notifications"])
def test_the_socket_connect_refuses_forged_and_refresh_tokens(
    client: TestClient, socket: str
) -> None:
    attacker, victim = _login(client, "mallory"), _login(client, "alice")
    refused = {
        **_forgeries(attacker["accessToken"], victim["user"]["id"]),
        "refresh as access": attacker["refreshToken"],
    }
    for name, token in refused.items():
        with client.websocket_connect(socket) as ws:
            error = stomp_connect(ws, token)
            assert (error.command, error.headers.get("message")) == ("ERROR", "Unauthorized"), name
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1008, name
    with client.websocket_connect(socket) as ws:
        assert stomp_connect(ws, attacker["accessToken"]).command == "CONNECTED"


def test_a_forged_token_in_the_socket_query_is_refused(client: TestClient) -> None:
    """The notification socket also takes the token from ``?token=`` (browsers cannot set
    headers on a WebSocket); that path must verify just the same."""
    attacker, victim = _login(client, "mallory"), _login(client, "alice")
    forged = _forgeries(attacker["accessToken"], victim["user"]["id"])["tampered payload"]
    with client.websocket_connect(f"/ws/notifications?token={forged}") as ws:
        assert stomp_connect(ws, None).command == "ERROR"

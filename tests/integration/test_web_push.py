"""Web Push: devices registered through the SPA's push-token call, notifications delivered
to a local stand-in push service (a real HTTP server: it decrypts what it gets with the
subscriber's key and checks the VAPID signature), expired subscriptions removed."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from app.runtime import Runtime
from domain.push_devices import PushDeviceRegistered, PushDeviceRemoved
from projections.notifications import push_devices_of
from tests.support import StompClient, appended_by_requests, signed_in_learner, token_of
from workers.web_push import web_push


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_VAPID = ec.generate_private_key(ec.SECP256R1())
VAPID_PRIVATE = _b64(_VAPID.private_numbers().private_value.to_bytes(32, "big"))
VAPID_PUBLIC = _VAPID.public_key()
pytestmark = pytest.mark.settings(
    webpush_vapid_private_key=VAPID_PRIVATE,
    webpush_endpoint_hosts="127.0.0.1",
    webpush_allow_http=True,
)


class PushService:
    """Records every push; answers 410 Gone for endpoints under ``/gone/``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                service.received.append(
                    {
                        "path": self.path,
                        "body": body,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                    }
                )
                self.send_response(410 if self.path.startswith("/gone/") else 201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService()
    yield service
    service.server.shutdown()


class Browser:
    """A browser's push subscription: its own key pair and auth secret."""

    def __init__(self, endpoint: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.subscription = {"endpoint": endpoint,
                             "keys": {"p256dh": _b64(public), "auth": _b64(self.auth)}}  # fmt: skip

    def token(self) -> dict[str, str]:
        return {"token": json.dumps(self.subscription), "deviceType": "web", "userAgent": "test"}

    def read(self, push: dict[str, Any]) -> dict[str, Any]:
        """Decrypt a push as the browser would, after checking its VAPID signature."""
        scheme, _, params = push["headers"]["authorization"].partition(" ")
        fields = dict(part.split("=", 1) for part in params.split(","))
        assert scheme == "vapid" and push["headers"]["content-encoding"] == "aes128gcm"
        claims = jwt.decode(fields["t"], VAPID_PUBLIC, algorithms=["ES256"],  # type: ignore[arg-type]
                            audience=self.subscription["endpoint"].rsplit("/", 2)[0])  # fmt: skip
        assert claims["sub"].startswith("mailto:")
        plain = http_ece.decrypt(push["body"], private_key=self.key, auth_secret=self.auth,
                                 version="aes128gcm")  # fmt: skip
        return dict(json.loads(plain))


def _register(client: TestClient, user: dict[str, Any], browser: Browser) -> None:
    response = client.post(
        "/api/v1/notifications/push-token", json=browser.token(), headers=user["headers"]
    )
    assert response.status_code == 200, response.text


def _wait_for(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _pair_with_device(
    client: TestClient, browser: Browser
) -> tuple[Runtime, dict[str, Any], dict[str, Any]]:
    """Mina and Jun, Jun with ``browser`` registered (and projected) as his push device."""
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    mina = signed_in_learner(client, "Mina", native=1, target=2)
    jun = signed_in_learner(client, "Jun", native=2, target=1)
    _register(client, jun, browser)
    _wait_for(lambda: push_devices_of(rt.read_models, jun["id"]), "device not projected")
    return rt, mina, jun


def test_push_tokens_are_checked_and_registered_once(
    client: TestClient, push_service: PushService
) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    user = signed_in_learner(client, "Pia")
    key = client.get("/api/v1/notifications/vapid-public-key", headers=user["headers"])
    public = VAPID_PUBLIC.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert key.json()["data"] == {"publicKey": _b64(public), "enabled": True}

    before = rt.store.max_position()
    browser = Browser(f"{push_service.url}/push/pia")
    forged = Browser("http://169.254.169.254/latest/meta-data")  # not a push service
    bad_keys = Browser(f"{push_service.url}/push/x")
    bad_keys.subscription["keys"]["p256dh"] = _b64(b"\x04" + b"\x00" * 10)
    for token in (forged.token(), bad_keys.token(), {"token": "not json"}, {"token": "{}"}):
        response = client.post(
            "/api/v1/notifications/push-token", json=token, headers=user["headers"]
        )
        assert response.status_code == 422, response.text
    assert appended_by_requests(rt.store, before) == []

    _register(client, user, browser)
    _register(client, user, browser)  # the SPA calls it on every start
    assert appended_by_requests(rt.store, before) == [PushDeviceRegistered.topic]
    assert client.post("/api/v1/notifications/push-token", json=browser.token()).status_code == 401
    gone = client.request(
        "DELETE", "/api/v1/notifications/push-token", json=browser.token(), headers=user["headers"]
    )
    assert gone.status_code == 200
    assert appended_by_requests(rt.store, before)[-1] == PushDeviceRemoved.topic


@pytest.mark.parametrize("client", ["embedded"], indirect=True)
def test_another_user_cannot_unregister_my_device(
    client: TestClient, push_service: PushService
) -> None:
    """Part of the authorization matrix (test_authorization_matrix.py), kept here for the
    push settings: devices are per-user aggregates, so someone else presenting my
    subscription removes nothing of mine."""
    browser = Browser(f"{push_service.url}/push/jun")
    rt, _, jun = _pair_with_device(client, browser)
    stranger = signed_in_learner(client, "Stranger")
    before = rt.store.max_position()
    response = client.request(
        "DELETE",
        "/api/v1/notifications/push-token",
        json=browser.token(),
        headers=stranger["headers"],
    )
    assert response.status_code in (200, 403, 404), response.text
    assert appended_by_requests(rt.store, before) == []
    assert push_devices_of(rt.read_models, jun["id"])


@pytest.mark.workers
def test_a_notification_reaches_an_offline_device_encrypted_and_in_their_language(
    client: TestClient, push_service: PushService
) -> None:
    mina = signed_in_learner(client, "Mina", native=1, target=2)
    jun = signed_in_learner(client, "Jun", native=2, target=1)
    browser = Browser(f"{push_service.url}/push/jun")
    _register(client, jun, browser)
    client.post("/api/v1/matching/request", json={"targetUserId": jun["id"]},
                headers=mina["headers"])  # fmt: skip
    _wait_for(lambda: push_service.received, "no push arrived")
    shown = browser.read(push_service.received[0])
    assert shown["type"] == "match_request" and shown["title"] == "새 매칭 요청"
    assert (
        shown["message"] == "Mina님이 언어 교환을 요청했어요." and shown["clickUrl"] == "/matching"
    )


@pytest.mark.workers
def test_a_subscription_the_push_service_forgot_is_removed(
    client: TestClient, push_service: PushService
) -> None:
    rt, mina, jun = _pair_with_device(client, Browser(f"{push_service.url}/gone/jun"))
    client.post("/api/v1/matching/request", json={"targetUserId": jun["id"]},
                headers=mina["headers"])  # fmt: skip
    _wait_for(lambda: not push_devices_of(rt.read_models, jun["id"]), "expired device kept")
    removed = [r.decode() for r in rt.store.read_all() if r.topic == PushDeviceRemoved.topic]
    assert [(e.user_id, e.reason) for e in removed] == [(jun["id"], "expired")]  # type: ignore[attr-defined]


def test_no_push_while_a_socket_is_open_read_or_muted(
    client: TestClient, push_service: PushService
) -> None:
    """The job itself, run directly: its decisions are what this test is about."""
    rt, mina, jun = _pair_with_device(client, Browser(f"{push_service.url}/push/jun"))
    device = push_devices_of(rt.read_models, jun["id"])[0]["device"]
    client.post("/api/v1/matching/request", json={"targetUserId": jun["id"]},
                headers=mina["headers"])  # fmt: skip
    _wait_for(lambda: client.get("/api/v1/notifications", headers=jun["headers"]).json()[
        "data"]["notifications"], "no notification")  # fmt: skip
    item = client.get("/api/v1/notifications", headers=jun["headers"]).json()["data"][
        "notifications"][0]  # fmt: skip
    row = {"notification_id": item["id"], "recipient_id": jun["id"], "kind": item["type"],
           "category": item["category"], "click_url": item["clickUrl"], "data": item["data"],
           "created_at": item["createdAt"], "read_at": None}  # fmt: skip

    with client.websocket_connect(f"/ws/notifications?token={token_of(jun)}") as ws:
        assert StompClient(ws).connect(token_of(jun)).command == "CONNECTED"
        web_push.run(rt, jun["id"], device, row)  # online: the live push is enough
    assert push_service.received == []
    _wait_for(lambda: rt.presence.of([jun["id"]], time.time())[jun["id"]]["status"] == "OFFLINE",
              "socket closed but still online")  # fmt: skip

    client.patch("/api/v1/settings/notifications", json={"pushEnabled": False},
                 headers=jun["headers"])  # fmt: skip
    web_push.run(rt, jun["id"], device, row)  # push switched off
    assert push_service.received == []
    client.patch("/api/v1/settings/notifications", json={"pushEnabled": True},
                 headers=jun["headers"])  # fmt: skip
    web_push.run(rt, jun["id"], device, row)
    assert len(push_service.received) == 1
    client.patch(f"/api/v1/notifications/{item['id']}/read", headers=jun["headers"])
    web_push.run(rt, jun["id"], device, row)  # read meanwhile (a retried job)
    assert len(push_service.received) == 1

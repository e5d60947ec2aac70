"""No credential reaches a log line, from any logger, at any level.

A real ``languagemate serve`` at DEBUG (so uvicorn, websockets, httpx and every library
log all they can) is driven the way the SPA drives it: sockets that carry the access token
in their query (``/ws/notifications?token=``, ``/ws/chat?token=``) or in the CONNECT frame,
a refresh with the refresh token as Bearer, a password sign-up and sign-in, a full OAuth
login through a stand-in provider (``code`` and ``state`` in the callback's query, the
tokens handed to the SPA in the redirect), and a WebRTC room token with the display name the
SPA puts in the signalling URL. Then everything the process wrote is searched for each
secret and for the name.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from websockets.sync.client import connect

from devservices import free_port
from devservices.settings import TEST_JWT_KEYS
from tests.e2e.conftest import Processes, wait_healthy
from tests.e2e.stomp_socket import Client
from tests.oauth_provider import FakeProvider

SPA = "http://127.0.0.1:4173"
PASSWORD = "correct-Horse-battery-91"


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _oauth_login(base: str, provider: FakeProvider) -> list[str]:
    """A Google login from the SPA's button to its landing page: the secrets it carries."""
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as browser:
        start = browser.get("/api/v1/login/google", params={"target": SPA})
        assert start.status_code == 302, start.text
        consent = httpx.get(start.headers["location"], follow_redirects=False, timeout=10)
        assert consent.status_code == 302, consent.text
        back = consent.headers["location"]
        callback = browser.get(urlsplit(back).path, params=_query(back))
        assert callback.status_code in (302, 303), callback.text
        landing = _query(callback.headers["location"])
    code, state = _query(back)["code"], _query(back)["state"]
    return [code, state, landing["accessToken"], landing["refreshToken"]]


def test_tokens_passwords_codes_and_states_never_reach_the_log(
    processes: Processes, tmp_path: Path
) -> None:
    with FakeProvider("google", client_id="g-client", client_secret="g-secret-9f2c") as google:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {"LANGUAGEMATE_DATA_DIR": str(tmp_path / "var"), "LANGUAGEMATE_DEV_LOGIN": "1",
               "LANGUAGEMATE_JWT_KEYS": TEST_JWT_KEYS, "LANGUAGEMATE_IDENTITY_PEPPER": "pepper",
               "LANGUAGEMATE_LOG_LEVEL": "DEBUG", "LANGUAGEMATE_OAUTH_REDIRECT_BASE": base,
               **{f"LANGUAGEMATE_{k.upper()}": v
                  for k, v in google.settings().items()}}  # fmt: skip
        server = processes.start(["serve", "--port", str(port)], env, "serve")
        wait_healthy(base, server)

        mina = {"email": "mina@example.com", "name": "Mina"}
        login = httpx.post(f"{base}/api/v1/auth/dev-login", json=mina, timeout=30).json()["data"]
        access, refresh = login["accessToken"], login["refreshToken"]
        ws = base.replace("http", "ws")
        Client(f"{ws}/ws/notifications?token={access}", None).ws.close()
        Client(f"{ws}/ws/chat?token={access}", None).ws.close()
        Client(f"{ws}/ws/chat", access).ws.close()
        refreshed = httpx.post(f"{base}/api/v1/auth/refresh", timeout=30,
                               headers={"Authorization": f"Bearer {refresh}"})  # fmt: skip
        assert refreshed.status_code == 200, refreshed.text
        signup = {"email": "jun@example.com", "password": PASSWORD, "name": "Jun"}
        assert httpx.post(f"{base}/api/v1/auth/register", json=signup, timeout=30).is_success
        signin = httpx.post(f"{base}/api/v1/auth/login", timeout=30,
                            json={"email": "jun@example.com", "password": PASSWORD})  # fmt: skip
        assert signin.status_code == 200, signin.text
        wrong = {"email": "jun@example.com", "password": PASSWORD + "x"}
        assert httpx.post(f"{base}/api/v1/auth/login", json=wrong, timeout=30).status_code == 401
        audio = {"roomType": "audio", "maxParticipants": 2}
        room = httpx.post(f"{base}/api/v1/room/create", json=audio, timeout=30).json()["data"]
        joined = httpx.post(f"{base}/api/v1/room/{room['roomId']}/join", timeout=30,
                            json={"userId": "mina"}).json()["data"]  # fmt: skip
        with connect(f"{ws}/api/v1/room/{room['roomId']}/ws?token={joined['roomToken']}"
                     "&userName=Mina%20Seo") as call:  # fmt: skip
            call.recv(timeout=20)
        oauth = _oauth_login(base, google)
        processes.stop_all()  # everything the process had to say is written

    log = processes.log("serve")
    assert "WebSocket /ws/notifications" in log  # the handshakes were logged, at DEBUG too
    secrets = {
        "access token": access, "refresh token": refresh,
        "rotated tokens": refreshed.json()["data"]["accessToken"],
        "password": PASSWORD, "room token": joined["roomToken"],
        "oauth code": oauth[0], "oauth state": oauth[1], "oauth tokens": oauth[2],
        "oauth refresh": oauth[3], "client secret": "g-secret-9f2c",
    }  # fmt: skip
    assert "Mina" not in log, "the display name in the signalling URL was logged"
    for name, secret in secrets.items():
        assert secret not in log, f"the {name} was logged"
        for part in secret.split(".")[1:]:  # no JWT payload or signature on its own either
            assert len(part) < 16 or part not in log, f"part of the {name} was logged"

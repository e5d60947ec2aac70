"""Sign-in sessions over HTTP: refresh rotation, reuse detection, logout, deletion with
crypto-shredding, password accounts and login throttling."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from app.runtime import Runtime
from domain.events import ERASED
from domain.identity import AccountRegistered, LoggedIn
from eventflow.store import EVENTS_TABLE
from projections.identity import get_account


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _runtime(client: TestClient) -> Runtime:
    return client.app.state.runtime  # type: ignore[attr-defined,no-any-return]


def _login(client: TestClient, email: str = "jun@example.com", name: str = "Jun") -> dict[str, Any]:
    response = client.post("/api/v1/auth/dev-login", json={"email": email, "name": name})
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def _refresh(client: TestClient, refresh_token: str) -> Any:
    return client.post("/api/v1/auth/refresh", headers=_auth(refresh_token))


def test_refresh_rotates_and_the_new_pair_works(client: TestClient) -> None:
    login = _login(client)
    response = _refresh(client, login["refreshToken"])
    assert response.status_code == 200
    pair = response.json()["data"]
    assert pair["refreshToken"] != login["refreshToken"]
    assert client.get("/api/v1/users/name", headers=_auth(pair["accessToken"])).status_code == 200
    again = _refresh(client, pair["refreshToken"])
    assert again.status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client: TestClient) -> None:
    login = _login(client)
    first = _refresh(client, login["refreshToken"]).json()["data"]
    second = _refresh(client, first["refreshToken"]).json()["data"]
    # The token rotated two steps ago comes back: theft. The family dies.
    stolen = _refresh(client, login["refreshToken"])
    assert stolen.status_code == 401
    assert stolen.json()["code"] == "SESSION_REVOKED"
    assert _refresh(client, second["refreshToken"]).status_code == 401
    assert client.get("/api/v1/users/name", headers=_auth(second["accessToken"])).status_code == 401
    history = client.get(
        "/api/v1/settings/login-history", headers=_auth(_login(client)["accessToken"])
    ).json()["data"]
    reuse = [h for h in history if h["outcome"] == "token_reuse"]
    assert reuse and reuse[0]["suspicious"] is True
    assert reuse[0]["suspiciousReason"] == "REFRESH_TOKEN_REUSE"


def test_a_just_rotated_token_presented_again_at_once_is_a_race_not_a_theft(
    client: TestClient,
) -> None:
    login = _login(client)
    first = _refresh(client, login["refreshToken"])
    racing = _refresh(client, login["refreshToken"])  # the SPA's second parallel 401
    assert first.status_code == 200 and racing.status_code == 200
    assert _refresh(client, first.json()["data"]["refreshToken"]).status_code == 200


def test_access_and_refresh_tokens_are_not_interchangeable(client: TestClient) -> None:
    login = _login(client)
    assert _refresh(client, login["accessToken"]).status_code == 401
    assert client.get("/api/v1/users/name", headers=_auth(login["refreshToken"])).status_code == 401


def test_expired_access_token_is_refused(client: TestClient) -> None:
    login = _login(client)
    rt = _runtime(client)
    claims = rt.tokens.verify(login["accessToken"], "access")
    expired, _ = rt.tokens.issue(
        claims.user_id, "access", session_id=claims.session_id, now=1_000_000
    )
    response = client.get("/api/v1/users/name", headers=_auth(expired))
    assert response.status_code == 401


def test_logout_revokes_the_family_and_its_access_token(client: TestClient) -> None:
    login = _login(client)
    assert (
        client.post("/api/v1/auth/logout", headers=_auth(login["accessToken"])).status_code == 200
    )
    assert client.get("/api/v1/users/name", headers=_auth(login["accessToken"])).status_code == 401
    assert _refresh(client, login["refreshToken"]).status_code == 401
    # Another sign-in of the same user is unaffected.
    fresh = _login(client)
    assert client.get("/api/v1/users/name", headers=_auth(fresh["accessToken"])).status_code == 200


def _raw_states(rt: Runtime) -> list[bytes]:
    if rt.settings.database_url:
        with psycopg.connect(rt.settings.database_url) as conn:
            return [bytes(r[0]) for r in conn.execute(f"SELECT state FROM {EVENTS_TABLE}".encode())]
    with sqlite3.connect(rt.settings.event_store_sqlite_path) as conn:
        return [bytes(r[0]) for r in conn.execute(f"SELECT state FROM {EVENTS_TABLE}")]


def test_account_deletion_shreds_personal_data_and_removes_read_models(client: TestClient) -> None:
    rt = _runtime(client)
    login = _login(client, "erase.me@example.com", "지워질 사람")
    token = login["accessToken"]
    user_id = login["user"]["id"]
    client.post("/api/v1/users/self-bio", json={"selfBio": "my secret bio"}, headers=_auth(token))
    # No plaintext personal data in the event table, even before deletion.
    raw = b"\n".join(_raw_states(rt))
    for secret in ("erase.me@example.com", "지워질 사람", "my secret bio"):
        assert secret.encode() not in raw
    response = client.request("DELETE", "/api/v1/settings/account", json={}, headers=_auth(token))
    assert response.status_code == 200, response.text
    assert get_account(rt.read_models, user_id) is None
    assert client.get("/api/v1/users/name", headers=_auth(token)).status_code == 401
    assert _refresh(client, login["refreshToken"]).status_code == 401
    # The history is intact and replayable, with the personal fields erased.
    from uuid import UUID

    history = rt.store.history(UUID(user_id))
    registered = next(e for e in history if isinstance(e, AccountRegistered))
    assert (registered.email, registered.name) == (ERASED, ERASED)
    assert any(isinstance(e, LoggedIn) for e in history)
    # Signing up again with the address is a new, working account.
    again = _login(client, "erase.me@example.com", "New Me")
    assert again["user"]["id"] != user_id and again["isNewUser"] is True
    assert (
        client.get("/api/v1/users/name", headers=_auth(again["accessToken"])).json()["name"]
        == "New Me"
    )


def test_password_accounts_register_log_in_and_are_throttled(client: TestClient) -> None:
    body = {"email": "pw@example.com", "password": "correct horse battery", "name": "Pw"}
    registered = client.post("/api/v1/auth/register", json=body)
    assert registered.status_code == 200, registered.text
    duplicate = client.post("/api/v1/auth/register", json=body)
    assert duplicate.status_code == 409
    good = client.post(
        "/api/v1/auth/login", json={"email": "PW@example.com", "password": body["password"]}
    )
    assert good.status_code == 200
    rt = _runtime(client)
    head = rt.store.max_position()
    for _ in range(5):
        bad = client.post(
            "/api/v1/auth/login", json={"email": body["email"], "password": "wrong password"}
        )
        assert bad.status_code == 401 and bad.json()["code"] == "INVALID_CREDENTIALS"
    assert rt.store.max_position() > head  # every failure is an event
    throttled = client.post(
        "/api/v1/auth/login", json={"email": body["email"], "password": body["password"]}
    )
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    unknown = client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "x"}
    )
    assert unknown.status_code == 401 and unknown.json()["code"] == "INVALID_CREDENTIALS"
    token = good.json()["data"]["accessToken"]
    history = client.get("/api/v1/settings/login-history", headers=_auth(token)).json()["data"]
    assert [h["outcome"] for h in history].count("failure") == 5
    assert {"loginTime", "ipAddress", "device", "browser", "suspicious"} <= set(history[0])


def test_password_account_deletion_needs_the_password(client: TestClient) -> None:
    body = {"email": "pw2@example.com", "password": "correct horse battery", "name": "Pw"}
    token = client.post("/api/v1/auth/register", json=body).json()["data"]["accessToken"]
    wrong = client.request(
        "DELETE", "/api/v1/settings/account", json={"password": "nope"}, headers=_auth(token)
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "WRONG_PASSWORD"
    right = client.request(
        "DELETE",
        "/api/v1/settings/account",
        json={"password": body["password"]},
        headers=_auth(token),
    )
    assert right.status_code == 200


def test_errors_speak_the_users_language(client: TestClient) -> None:
    anonymous = client.get("/api/v1/users/name")
    assert anonymous.json()["message"] == "로그인이 필요합니다."  # Korean by default
    english = client.get("/api/v1/users/name", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert english.json()["message"] == "Please sign in."
    assert english.json()["code"] == anonymous.json()["code"] == "AUTH_REQUIRED"
    token = _login(client, "lang@example.com", "Lang")["accessToken"]
    client.patch("/api/v1/settings/language", json={"appLanguage": "en"}, headers=_auth(token))
    bad = client.post("/api/v1/users/location", json={"locationId": 99999}, headers=_auth(token))
    assert bad.status_code == 422 and bad.json()["message"] == "Unknown location."
    labels = client.get("/api/v1/users/profile", headers=_auth(token))
    assert labels.status_code == 200


def test_password_change_and_two_factor_protect_password_logins(client: TestClient) -> None:
    import pyotp

    body = {"email": "tf@example.com", "password": "correct horse battery", "name": "Tf"}
    token = client.post("/api/v1/auth/register", json=body).json()["data"]["accessToken"]
    wrong = client.patch(
        "/api/v1/settings/password",
        json={"currentPassword": "nope", "newPassword": "another long one"},
        headers=_auth(token),
    )
    assert wrong.status_code == 422
    changed = client.patch(
        "/api/v1/settings/password",
        json={"currentPassword": body["password"], "newPassword": "another long one"},
        headers=_auth(token),
    )
    assert changed.status_code == 200
    assert (
        client.post(
            "/api/v1/auth/login", json={"email": body["email"], "password": body["password"]}
        ).status_code
        == 401
    )
    assert (
        client.get("/api/v1/settings/two-factor", headers=_auth(token)).json()["enabled"] is False
    )
    enabled = client.post("/api/v1/settings/two-factor/enable", headers=_auth(token)).json()
    assert enabled["enabled"] is True and enabled["qrCode"].startswith("data:image/svg+xml")
    assert client.get("/api/v1/settings/two-factor", headers=_auth(token)).json()["enabled"] is True
    rt = _runtime(client)
    from uuid import UUID

    from domain.identity import Account

    secret = rt.store.load(
        Account, UUID(rt.tokens.verify(token, "access").user_id)
    ).two_factor_secret  # type: ignore[union-attr]
    without = client.post(
        "/api/v1/auth/login", json={"email": body["email"], "password": "another long one"}
    )
    assert without.status_code == 401 and without.json()["code"] == "TWO_FACTOR_REQUIRED"
    with_code = client.post(
        "/api/v1/auth/login",
        json={
            "email": body["email"],
            "password": "another long one",
            "code": pyotp.TOTP(secret).now(),
        },
    )
    assert with_code.status_code == 200
    bad = client.post(
        "/api/v1/settings/two-factor/disable", json={"code": "000000"}, headers=_auth(token)
    )
    assert bad.status_code == 422
    off = client.post(
        "/api/v1/settings/two-factor/disable",
        json={"code": pyotp.TOTP(secret).now()},
        headers=_auth(token),
    )
    assert off.status_code == 200 and off.json()["enabled"] is False


def test_data_export_is_downloadable_only_through_its_signed_link(client: TestClient) -> None:
    token = _login(client, "export@example.com", "내보내기")["accessToken"]
    client.post("/api/v1/users/self-bio", json={"selfBio": "bio to export"}, headers=_auth(token))
    export = client.post("/api/v1/settings/export", headers=_auth(token)).json()
    assert {"downloadUrl", "filename", "requestId"} <= set(export)
    download = client.get(export["downloadUrl"])
    assert download.status_code == 200
    document = download.json()
    assert document["profile"]["selfBio"] == "bio to export"
    assert document["profile"]["email"] == "export@example.com"
    tampered = export["downloadUrl"].replace("signature=", "signature=0")
    assert client.get(tampered).status_code == 404

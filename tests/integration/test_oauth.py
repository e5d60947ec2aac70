"""Google and Naver sign-in end to end: our API (TestClient) + a real local provider + Redis."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import api.oauth
import infra.oauth
from api.app import create_app
from app.runtime import Runtime
from devservices.settings import make_settings
from infra.oauth import STATE_PREFIX, binding_cookie_name, canonical_origin
from tests.oauth_provider import FakeProvider, Identity

TARGET = "http://localhost:3000"
API_ORIGIN = "http://api.test"
JSON = {"Accept": "application/json"}


# -- fixtures ---------------------------------------------------------------------------
@pytest.fixture
def google() -> Iterator[FakeProvider]:
    with FakeProvider("google", client_id="g-client", client_secret="g-secret") as provider:
        yield provider


@pytest.fixture
def naver() -> Iterator[FakeProvider]:
    with FakeProvider(
        "naver",
        client_id="n-client",
        client_secret="n-secret",
        next_identity=Identity("naver-77", "jun@example.com", "박준", nickname="준"),
    ) as provider:
        yield provider


def _app(rt: Runtime) -> FastAPI:
    app = create_app(rt)
    paths = {getattr(route, "path", "") for route in app.routes}
    if "/login/oauth2/code/{provider}" not in paths:
        app.include_router(api.oauth.router)
    return app


@pytest.fixture
def build(
    tmp_path: Path,
    redis_url: str,
    runtimes: Callable[..., Runtime],
    google: FakeProvider,
    naver: FakeProvider,
) -> Callable[..., Runtime]:
    def make(**overrides: Any) -> Runtime:
        settings = make_settings(
            tmp_path / "var",
            redis_url=redis_url,
            oauth_redirect_base=API_ORIGIN,
            oauth_allowed_targets=f"{TARGET}, https://app.example",
            **{**google.settings(), **naver.settings(), **overrides},
        )
        rt = runtimes(settings)
        rt.start_projectors(kafka=False)
        return rt

    return make


@pytest.fixture
def rt(build: Callable[..., Runtime]) -> Runtime:
    return build()


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(_app(rt), follow_redirects=False) as test_client:
        yield test_client


# -- helpers ----------------------------------------------------------------------------
def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _start(
    client: TestClient, provider: str, target: str = TARGET, path: str = "/api/v1/login"
) -> str:
    response = client.get(f"{path}/{provider}", params={"target": target})
    assert response.status_code == 302, response.text
    return str(response.headers["location"])


def _authorize(authorize_url: str) -> str:
    """The browser at the provider: it approves and sends us back to the redirect URI."""
    response = httpx.get(authorize_url, follow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def _callback(
    client: TestClient, location: str, headers: dict[str, str] | None = None, path: str = ""
) -> httpx.Response:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == API_ORIGIN
    response: httpx.Response = client.get(f"{path or parts.path}?{parts.query}", headers=headers)
    return response


def _login(client: TestClient, provider: str, headers: dict[str, str] | None = None) -> Any:
    return _callback(client, _authorize(_start(client, provider)), headers)


def _state_keys(rt: Runtime) -> list[bytes]:
    return list(rt.redis.scan_iter(STATE_PREFIX + "*"))


def _assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    body = response.json()
    assert body["success"] is False and body["code"] == code


# -- the happy paths --------------------------------------------------------------------
def test_google_sign_in_end_to_end(client: TestClient, rt: Runtime, google: FakeProvider) -> None:
    google.next_identity = Identity("g-123", "Mina@Example.com", "김민아")
    authorize_url = _start(client, "google")

    assert authorize_url.startswith(google.base_url + "/authorize?")
    sent = _query(authorize_url)
    assert sent["client_id"] == "g-client" and sent["response_type"] == "code"
    assert sent["redirect_uri"] == f"{API_ORIGIN}/login/oauth2/code/google"
    assert sent["scope"] == "openid email profile"
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    key = STATE_PREFIX + sent["state"]
    assert 0 < rt.redis.ttl(key) <= rt.settings.oauth_state_ttl_seconds
    stored = json.loads(rt.redis.get(key) or b"{}")
    assert stored["provider"] == "google" and stored["target"] == TARGET

    back = _authorize(authorize_url)
    assert back.startswith(f"{API_ORIGIN}/login/oauth2/code/google?")
    assert _query(back)["state"] == sent["state"]
    before = rt.store.max_position()
    response = _callback(client, back)

    assert response.status_code == 302, response.text
    assert response.headers["cache-control"] == "no-store"
    location = response.headers["location"]
    assert location.startswith(f"{TARGET}/login/oauth2/code/google?")
    final = _query(location)
    assert final["provider"] == "google"
    access = rt.tokens.verify(final["accessToken"], "access")
    refresh = rt.tokens.verify(final["refreshToken"], "refresh")
    assert access.user_id == refresh.user_id and access.session_id == refresh.session_id
    assert rt.store.max_position() > before
    assert rt.redis.get(key) is None  # consumed

    # PKCE: the verifier we sent hashes to the challenge given at authorize time
    token_request = google.token_requests[-1]
    verifier = token_request["code_verifier"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert digest.decode() == sent["code_challenge"]
    assert token_request["client_secret"] == "g-secret"
    assert token_request["redirect_uri"] == sent["redirect_uri"]

    name = client.get(
        "/api/v1/users/name", headers={"Authorization": f"Bearer {final['accessToken']}"}
    )
    assert name.status_code == 200 and name.json()["name"] == "김민아"


def test_naver_sign_in_through_the_aliases(
    client: TestClient, rt: Runtime, naver: FakeProvider
) -> None:
    authorize_url = _start(client, "naver", path="/api/v1/auth/login")
    sent = _query(authorize_url)
    assert "code_challenge" not in sent and "scope" not in sent
    assert sent["redirect_uri"] == f"{API_ORIGIN}/login/oauth2/code/naver"

    back = _authorize(authorize_url)
    response = _callback(client, back, path="/api/v1/auth/callback/naver")

    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(f"{TARGET}/login/oauth2/code/naver?")
    final = _query(location)
    assert final["provider"] == "naver"
    rt.tokens.verify(final["accessToken"], "access")
    token_request = naver.token_requests[-1]
    assert token_request["state"] == sent["state"]  # Naver wants the state at the token step
    assert token_request["client_secret"] == "n-secret" and "code_verifier" not in token_request
    name = client.get(
        "/api/v1/users/name", headers={"Authorization": f"Bearer {final['accessToken']}"}
    )
    assert name.json()["name"] == "박준"


def test_json_callback_mirrors_the_tokens_at_the_top_level(client: TestClient, rt: Runtime) -> None:
    response = _login(client, "google", headers=JSON)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    for key in ("accessToken", "refreshToken", "name", "isNewUser"):
        assert body[key] == body["data"][key]
    assert body["name"] == "김민아" and body["isNewUser"] is True
    assert body["provider"] == "google"
    rt.tokens.verify(body["accessToken"], "access")
    rt.tokens.verify(body["refreshToken"], "refresh")


def test_second_login_is_the_same_user_and_not_new(
    client: TestClient, google: FakeProvider, naver: FakeProvider
) -> None:
    first = _login(client, "google", headers=JSON).json()
    google.next_identity = Identity("g-123", "MINA@example.com", "Other name")
    second = _login(client, "google", headers=JSON).json()

    assert first["isNewUser"] is True and second["isNewUser"] is False
    assert second["user"]["id"] == first["user"]["id"]
    assert second["name"] == "김민아"  # the registered name is kept

    # Accounts are keyed by the (verified) e-mail: the same address through Naver is one user.
    naver.next_identity = Identity("naver-1", "mina@example.com", "민아")
    third = _login(client, "naver", headers=JSON).json()
    assert third["user"]["id"] == first["user"]["id"] and third["isNewUser"] is False


def test_start_with_json_accept_returns_the_url(client: TestClient, google: FakeProvider) -> None:
    response = client.get("/api/v1/login/google", params={"target": TARGET}, headers=JSON)
    assert response.status_code == 200
    assert response.json()["data"]["url"].startswith(google.base_url + "/authorize?")


@pytest.mark.parametrize(
    ("target", "canonical"),
    [
        ("http://localhost:3000/", TARGET),
        ("HTTP://LocalHost:3000", TARGET),
        ("https://app.example:443", "https://app.example"),
    ],
)
def test_equivalent_spellings_of_an_allowed_target_return_to_its_canonical_form(
    client: TestClient, target: str, canonical: str
) -> None:
    response = _callback(client, _authorize(_start(client, "google", target=target)))
    assert response.headers["location"].startswith(f"{canonical}/login/oauth2/code/google?")


def test_missing_target_means_the_first_allowed_origin(client: TestClient) -> None:
    response = client.get("/api/v1/login/google")
    assert response.status_code == 302
    final = _callback(client, _authorize(response.headers["location"]))
    assert final.headers["location"].startswith(f"{TARGET}/login/oauth2/code/google?")


# -- refusals ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "http://localhost:3000.evil.example",
        "//evil.example",
        "http://user@localhost:3000",
        "http://localhost:3000@evil.example",
        "http://localhost:3000/path",
        "http://localhost:3000?next=https://evil.example",
        "http://localhost:3000#x",
        "http://localhost:3001",
        "https://localhost:3000",
        "http://localhost:3000\\@evil.example",
        "javascript:alert(1)",
        "localhost:3000",
    ],
)
def test_open_redirect_attempts_are_refused_and_nothing_is_stored(
    client: TestClient, rt: Runtime, google: FakeProvider, target: str
) -> None:
    response = client.get("/api/v1/login/google", params={"target": target})
    _assert_error(response, 400, "OAUTH_TARGET_INVALID")
    assert _state_keys(rt) == []
    assert google.authorize_requests == []


def test_an_empty_target_is_no_target_and_returns_to_the_default_origin(
    client: TestClient,
) -> None:
    """``target=`` means "not given" on every route (api/blank_params.py): the login goes
    back to the first allowed origin, never anywhere the empty value could point."""
    response = client.get("/api/v1/login/google?target=")
    final = _callback(client, _authorize(response.headers["location"]))
    assert final.headers["location"].startswith(f"{TARGET}/login/oauth2/code/google?")


def test_a_replayed_state_is_refused(client: TestClient, rt: Runtime) -> None:
    back = _authorize(_start(client, "google"))
    assert _callback(client, back).status_code == 302
    before = rt.store.max_position()

    _assert_error(_callback(client, back), 400, "OAUTH_STATE_INVALID")
    _assert_error(_callback(client, back, headers=JSON), 400, "OAUTH_STATE_INVALID")
    assert rt.store.max_position() == before


def test_an_expired_state_is_refused(client: TestClient, rt: Runtime) -> None:
    back = _authorize(_start(client, "google"))
    (key,) = _state_keys(rt)
    rt.redis.pexpire(key, 1)  # the TTL setting has a floor of 30 s
    time.sleep(0.05)
    assert not rt.redis.exists(key)
    before = rt.store.max_position()

    _assert_error(_callback(client, back), 400, "OAUTH_STATE_INVALID")
    assert rt.store.max_position() == before


@pytest.mark.parametrize("state", ["", "short", "x" * 200, "not a state!!" * 3])
def test_missing_or_malformed_state_is_refused(
    client: TestClient, rt: Runtime, google: FakeProvider, state: str
) -> None:
    before = rt.store.max_position()
    response = client.get("/login/oauth2/code/google", params={"code": "abc", "state": state})
    _assert_error(response, 400, "OAUTH_STATE_INVALID")
    assert google.token_requests == [] and rt.store.max_position() == before


def test_the_state_cookie_is_http_only_lax_and_short_lived(client: TestClient, rt: Runtime) -> None:
    response = client.get("/api/v1/login/google", params={"target": TARGET})
    state = _query(response.headers["location"])["state"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(binding_cookie_name(state) + "=")
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    assert f"max-age={rt.settings.oauth_state_ttl_seconds}" in lowered
    assert "secure" not in lowered  # the test API origin is plain http
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    assert value.encode() not in (rt.redis.get(STATE_PREFIX + state) or b"")  # only a hash

    done = _callback(client, _authorize(response.headers["location"]))
    assert done.status_code == 302
    assert binding_cookie_name(state) not in client.cookies  # forgotten after use


def test_someone_elses_authorisation_response_is_refused(
    client: TestClient, rt: Runtime, google: FakeProvider
) -> None:
    """Login CSRF: an attacker starts a sign-in and lures a victim to its callback URL."""
    back = _authorize(_start(client, "google"))  # the attacker's browser
    before = rt.store.max_position()
    with TestClient(client.app, follow_redirects=False) as victim:
        _assert_error(_callback(victim, back), 400, "OAUTH_STATE_INVALID")
        _assert_error(_callback(victim, back, headers=JSON), 400, "OAUTH_STATE_INVALID")
    assert google.token_requests == [] and rt.store.max_position() == before


def test_a_tampered_state_cookie_is_refused(client: TestClient, rt: Runtime) -> None:
    authorize_url = _start(client, "google")
    name = binding_cookie_name(_query(authorize_url)["state"])
    client.cookies.set(name, "forged", domain="testserver.local")
    assert [c.value for c in client.cookies.jar if c.name == name] == ["forged"]
    before = rt.store.max_position()
    _assert_error(_callback(client, _authorize(authorize_url)), 400, "OAUTH_STATE_INVALID")
    assert rt.store.max_position() == before


def test_two_sign_ins_in_two_tabs_both_work(client: TestClient) -> None:
    first = _start(client, "google")
    second = _start(client, "naver")
    assert _callback(client, _authorize(second)).status_code == 302
    assert _callback(client, _authorize(first)).status_code == 302


def test_a_state_used_at_the_other_provider_is_refused(
    client: TestClient, rt: Runtime, google: FakeProvider, naver: FakeProvider
) -> None:
    back = _authorize(_start(client, "google"))
    query = urlsplit(back).query
    before = rt.store.max_position()

    _assert_error(client.get(f"/login/oauth2/code/naver?{query}"), 400, "OAUTH_STATE_INVALID")
    # the state was burnt by the attempt: the real callback fails too
    _assert_error(client.get(f"/login/oauth2/code/google?{query}"), 400, "OAUTH_STATE_INVALID")
    assert naver.token_requests == [] and google.token_requests == []
    assert rt.store.max_position() == before


def test_a_provider_refusal_goes_back_to_the_spa_with_the_error(
    client: TestClient, rt: Runtime, google: FakeProvider
) -> None:
    before = rt.store.max_position()
    google.deny_next = True
    back = _authorize(_start(client, "google"))
    assert _query(back)["error"] == "access_denied"

    response = _callback(client, back)

    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(f"{TARGET}/login/oauth2/code/google?")
    final = _query(location)
    assert final["error"] == "access_denied"
    assert final["error_description"] == "The user denied the request"
    assert "accessToken" not in final
    assert google.token_requests == [] and rt.store.max_position() == before
    assert _state_keys(rt) == []

    # the same refusal again: the state is gone, so no redirect to an untrusted target
    _assert_error(_callback(client, back), 400, "OAUTH_STATE_INVALID")


def test_a_provider_refusal_as_json_is_an_error_body(
    client: TestClient, google: FakeProvider
) -> None:
    google.deny_next = True
    response = _callback(client, _authorize(_start(client, "google")), headers=JSON)
    _assert_error(response, 400, "OAUTH_DENIED")


def test_a_refusal_with_a_bad_state_does_not_redirect(client: TestClient) -> None:
    response = client.get(
        "/login/oauth2/code/google",
        params={"error": "access_denied", "state": "A" * 43},
    )
    _assert_error(response, 400, "OAUTH_STATE_INVALID")


@pytest.mark.parametrize("status", [500, 503, 400])
def test_a_failing_token_endpoint_is_a_502(
    client: TestClient, rt: Runtime, google: FakeProvider, status: int
) -> None:
    back = _authorize(_start(client, "google"))
    google.fail_token = status
    before = rt.store.max_position()

    _assert_error(_callback(client, back), 502, "OAUTH_PROVIDER_ERROR")
    assert rt.store.max_position() == before


def test_naver_refusing_the_code_with_a_200_error_is_a_502(
    client: TestClient, rt: Runtime, naver: FakeProvider
) -> None:
    back = _authorize(_start(client, "naver"))
    naver.client_secret = "rotated"  # our secret no longer matches: {"error": "invalid_client"}
    before = rt.store.max_position()

    _assert_error(_callback(client, back), 502, "OAUTH_PROVIDER_ERROR")
    assert naver.token_requests[-1]["client_secret"] == "n-secret"
    assert rt.store.max_position() == before


def test_a_tampered_pkce_verifier_is_refused_by_the_provider(
    client: TestClient, rt: Runtime, google: FakeProvider
) -> None:
    back = _authorize(_start(client, "google"))
    (key,) = _state_keys(rt)
    record = json.loads(rt.redis.get(key) or b"{}")
    record["verifier"] = "x" * 64
    rt.redis.set(key, json.dumps(record), keepttl=True)
    before = rt.store.max_position()

    _assert_error(_callback(client, back), 502, "OAUTH_PROVIDER_ERROR")
    assert google.token_requests[-1]["code_verifier"] == "x" * 64
    assert rt.store.max_position() == before


def test_a_slow_provider_times_out(
    client: TestClient, rt: Runtime, google: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(infra.oauth, "HTTP_TIMEOUT_SECONDS", 0.3)
    back = _authorize(_start(client, "google"))
    google.token_delay = 1.0
    before = rt.store.max_position()

    _assert_error(_callback(client, back), 504, "OAUTH_PROVIDER_TIMEOUT")
    assert rt.store.max_position() == before


@pytest.mark.parametrize(
    "identity",
    [
        Identity("g-1", "mina@example.com", "Mina", email_verified=False),
        Identity("g-1", None, "Mina"),
        Identity("g-1", "not-an-address", "Mina"),
    ],
)
def test_a_profile_without_a_verified_email_is_refused(
    client: TestClient, rt: Runtime, google: FakeProvider, identity: Identity
) -> None:
    google.next_identity = identity
    before = rt.store.max_position()

    response = _login(client, "google")
    assert response.status_code == 302
    final = _query(response.headers["location"])
    assert final["error"] == "email_required" and "accessToken" not in final

    _assert_error(_login(client, "google", headers=JSON), 400, "OAUTH_EMAIL_REQUIRED")
    assert rt.store.max_position() == before


def test_naver_without_email_consent_is_refused(
    client: TestClient, rt: Runtime, naver: FakeProvider
) -> None:
    naver.next_identity = Identity("naver-9", None, "박준")
    before = rt.store.max_position()
    _assert_error(_login(client, "naver", headers=JSON), 400, "OAUTH_EMAIL_REQUIRED")
    assert rt.store.max_position() == before


def test_naver_falls_back_to_the_nickname(client: TestClient, naver: FakeProvider) -> None:
    naver.next_identity = Identity("naver-5", "nick@example.com", None, nickname="닉네임")
    body = _login(client, "naver", headers=JSON).json()
    assert body["name"] == "닉네임"


def test_unknown_provider_is_404(client: TestClient, rt: Runtime) -> None:
    _assert_error(
        client.get("/api/v1/login/kakao", params={"target": TARGET}),
        404,
        "OAUTH_PROVIDER_UNKNOWN",
    )
    _assert_error(
        client.get("/login/oauth2/code/kakao", params={"code": "c", "state": "A" * 43}),
        404,
        "OAUTH_PROVIDER_UNKNOWN",
    )
    assert _state_keys(rt) == []


def test_an_unconfigured_provider_is_404(build: Callable[..., Runtime]) -> None:
    rt = build(oauth_naver_client_id="", oauth_naver_client_secret="")
    with TestClient(_app(rt), follow_redirects=False) as client:
        response = client.get("/api/v1/login/naver", params={"target": TARGET})
        _assert_error(response, 404, "OAUTH_PROVIDER_NOT_CONFIGURED")
        assert _state_keys(rt) == []
        assert client.get("/api/v1/login/google", params={"target": TARGET}).status_code == 302


# -- the origin check in isolation ------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://localhost:3000/", "http://localhost:3000"),
        ("https://App.Example:443", "https://app.example"),
        ("http://example.com:80", "http://example.com"),
        ("http://[::1]:5173", "http://[::1]:5173"),
        ("http://127.0.0.1:4173", "http://127.0.0.1:4173"),
        ("http://localhost:3000.evil.example", None),
        ("http://user:pw@localhost:3000", None),
        ("http://localhost:3000/x", None),
        ("http://localhost:3000/?", None),
        ("http://localhost:99999", None),
        ("ftp://localhost", None),
        ("//localhost:3000", None),
        ("http:///localhost", None),
        ("http://local host", None),
        ("http://localhost%2eevil.example", None),
        ("http://exämple.com", None),
        ("http://localhost:3000\n", None),
    ],
)
def test_canonical_origin(value: str, expected: str | None) -> None:
    assert canonical_origin(value) == expected

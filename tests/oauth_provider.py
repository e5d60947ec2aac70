"""A local OAuth 2.0 provider stand-in (Google- or Naver-shaped) on a real loopback port.

``FakeProvider("google")`` serves, from a background thread:

* ``GET /authorize``: auto-approves as ``next_identity`` (or refuses when ``deny_next`` is
  set) and 302s back to ``redirect_uri`` with ``code``+``state`` (or ``error``+``state``);
  the identity can also be picked per request with ``?login_as=<email>`` among ``identities``.
* ``POST /token`` (form or query, like Naver's): checks grant type, client id and secret,
  the code (single use), ``redirect_uri``, Naver's ``state`` and the PKCE S256 verifier against
  the challenge given at authorize time. ``fail_token`` (an HTTP status) or ``token_delay``
  simulate outages.
* ``GET /userinfo`` with ``Authorization: Bearer``: Google OIDC userinfo or Naver ``nid/me``.

Every request is recorded in ``authorize_requests``/``token_requests``/``userinfo_requests``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

Kind = Literal["google", "naver"]


@dataclass
class Identity:
    subject: str
    email: str | None
    name: str | None
    email_verified: bool = True
    nickname: str | None = None


@dataclass
class _Grant:
    identity: Identity
    client_id: str
    redirect_uri: str
    state: str
    challenge: str | None
    challenge_method: str | None


def _pkce_matches(grant: _Grant, verifier: str | None) -> bool:
    digest = hashlib.sha256((verifier or "").encode()).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return grant.challenge_method == "S256" and expected == grant.challenge


@dataclass
class FakeProvider:
    kind: Kind
    client_id: str = "test-client"
    client_secret: str = "test-secret"
    next_identity: Identity = field(
        default_factory=lambda: Identity("sub-1", "mina@example.com", "김민아")
    )
    identities: dict[str, Identity] = field(default_factory=dict)
    deny_next: bool = False
    fail_token: int | None = None
    """Answer the token endpoint with this status (and a non-JSON body)."""
    token_delay: float = 0.0
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    userinfo_requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, Identity] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> FakeProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                provider._dispatch(self, "GET")

            def do_POST(self) -> None:
                provider._dispatch(self, "POST")

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-oauth-{self.kind}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def settings(self) -> dict[str, str]:
        """``Settings`` overrides pointing ``oauth_{kind}_*`` at this stand-in."""
        prefix = f"oauth_{self.kind}_"
        return {
            prefix + "client_id": self.client_id,
            prefix + "client_secret": self.client_secret,
            prefix + "authorize_url": self.base_url + "/authorize",
            prefix + "token_url": self.base_url + "/token",
            prefix + "userinfo_url": self.base_url + "/userinfo",
        }

    # -- HTTP ---------------------------------------------------------------------------
    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        params = dict(parse_qsl(url.query))
        if method == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            body = handler.rfile.read(length).decode() if length else ""
            params.update(parse_qsl(body))
        routes = {
            ("GET", "/authorize"): self._authorize,
            ("POST", "/token"): self._token,
            ("GET", "/token"): self._token,  # Naver accepts both
            ("GET", "/userinfo"): self._userinfo,
        }
        route = routes.get((method, url.path))
        if route is None:
            self._send(handler, 404, {"error": "not_found"})
            return
        route(handler, params)

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        data = raw if raw is not None else json.dumps(body).encode() if body is not None else b""
        handler.send_response(status)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        if raw is None and body is not None:
            handler.send_header("Content-Type", "application/json;charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _authorize(self, handler: BaseHTTPRequestHandler, params: dict[str, str]) -> None:
        with self._lock:
            self.authorize_requests.append(params)
        redirect_uri, state = params.get("redirect_uri", ""), params.get("state", "")
        if params.get("client_id") != self.client_id or params.get("response_type") != "code":
            self._send(handler, 400, {"error": "invalid_request"})
            return
        if not redirect_uri:
            self._send(handler, 400, {"error": "invalid_request"})
            return
        if self.deny_next:
            self.deny_next = False
            query = {
                "error": "access_denied",
                "error_description": "The user denied the request",
                "state": state,
            }
            self._send(handler, 302, headers={"Location": f"{redirect_uri}?{urlencode(query)}"})
            return
        identity = self.identities.get(params.get("login_as", ""), self.next_identity)
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = _Grant(
                identity=identity,
                client_id=params["client_id"],
                redirect_uri=redirect_uri,
                state=state,
                challenge=params.get("code_challenge"),
                challenge_method=params.get("code_challenge_method"),
            )
        query = {"code": code, "state": state}
        self._send(handler, 302, headers={"Location": f"{redirect_uri}?{urlencode(query)}"})

    def _token_error(self, handler: BaseHTTPRequestHandler, error: str) -> None:
        # Naver reports errors with 200; Google with 400.
        status = 200 if self.kind == "naver" else 400
        self._send(handler, status, {"error": error, "error_description": error})

    def _check_token_request(self, params: dict[str, str]) -> _Grant | str:
        """The grant a token request redeems, or the OAuth error to answer with."""
        if params.get("grant_type") != "authorization_code":
            return "unsupported_grant_type"
        if (
            params.get("client_id") != self.client_id
            or params.get("client_secret") != self.client_secret
        ):
            return "invalid_client"
        with self._lock:
            grant = self._codes.pop(params.get("code", ""), None)  # single use
        if grant is None or grant.client_id != params["client_id"]:
            return "invalid_grant"
        if (self.kind == "google" and params.get("redirect_uri") != grant.redirect_uri) or (
            self.kind == "naver" and params.get("state") != grant.state
        ):
            return "invalid_grant"
        if grant.challenge is not None and not _pkce_matches(grant, params.get("code_verifier")):
            return "invalid_grant"
        return grant

    def _token(self, handler: BaseHTTPRequestHandler, params: dict[str, str]) -> None:
        with self._lock:
            self.token_requests.append(params)
        if self.token_delay:
            time.sleep(self.token_delay)
        if self.fail_token is not None:
            self._send(handler, self.fail_token, raw=b"<html>upstream trouble</html>")
            return
        grant = self._check_token_request(params)
        if isinstance(grant, str):
            self._token_error(handler, grant)
            return
        access = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[access] = grant.identity
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer" if self.kind == "google" else "bearer",
            "expires_in": 3600,
        }
        if self.kind == "google":
            body["scope"] = "openid email profile"
            body["id_token"] = "not.checked.here"
        else:
            body["refresh_token"] = secrets.token_urlsafe(24)
        self._send(handler, 200, body)

    def _userinfo(self, handler: BaseHTTPRequestHandler, _: dict[str, str]) -> None:
        scheme, _sep, token = handler.headers.get("Authorization", "").partition(" ")
        with self._lock:
            self.userinfo_requests.append(token)
            identity = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if identity is None:
            if self.kind == "naver":
                body = {"resultcode": "024", "message": "Authentication failed"}
                self._send(handler, 401, body)
            else:
                self._send(handler, 401, {"error": "invalid_token"})
            return
        if self.kind == "google":
            info: dict[str, Any] = {"sub": identity.subject, "email_verified": False}
            if identity.email is not None:
                info["email"] = identity.email
                info["email_verified"] = identity.email_verified
            if identity.name is not None:
                info["name"] = identity.name
            self._send(handler, 200, info)
            return
        response: dict[str, Any] = {"id": identity.subject}
        for key in ("email", "name", "nickname"):
            value = getattr(identity, key)
            if value is not None:
                response[key] = value
        self._send(handler, 200, {"resultcode": "00", "message": "success", "response": response})

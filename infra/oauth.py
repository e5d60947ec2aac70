"""OAuth 2.0 authorization-code sign-in with Google (OIDC, PKCE) and Naver.

The flow (spa-contract 2.5):

1. ``start(provider, target)`` checks ``target`` (the SPA origin the user returns to) against
   ``settings.oauth_target_list`` exactly, stores a random single-use ``state`` in Redis under
   ``oauth:state:{state}`` for ``oauth_state_ttl_seconds``, and returns the provider's
   authorize URL. Google also gets a PKCE S256 challenge; the verifier stays in Redis.
   The state is bound to the browser that started the sign-in: ``start`` also returns a
   random key for an HttpOnly ``SameSite=Lax`` cookie (``lm_oauth_<hash of state>``) and stores
   only its SHA-256, so a victim cannot be made to finish an attacker's authorisation
   response (login CSRF).
2. ``finish(provider, code, state, browser_key=)`` consumes the state atomically (``GETDEL``:
   a replayed or expired state fails), checks the provider and the browser key, exchanges the
   code at the token endpoint and reads the profile.

This module is the flow (state, browser binding, targets, the calls to the provider);
what each provider is and says, and what a usable profile holds, is
``infra/oauth_providers.py``.

The redirect URI registered with the providers is
``{oauth_redirect_base or public_origin}/login/oauth2/code/{provider}``.

Error codes (``OAuthError.status`` / ``.code``):

* 404 ``OAUTH_PROVIDER_UNKNOWN``: not ``google`` or ``naver``.
* 404 ``OAUTH_PROVIDER_NOT_CONFIGURED``: the provider's client id or secret is empty (the login
  does not exist in this deployment, like ``/auth/dev-login`` when it is off).
* 400 ``OAUTH_TARGET_INVALID``: ``target`` is not an allowed origin; nothing is stored.
* 400 ``OAUTH_STATE_INVALID``: missing, malformed, unknown, expired, replayed, issued for
  another provider, or presented without its browser cookie. The target is not trusted then,
  so callers must not redirect.
* 400 ``OAUTH_CODE_MISSING``: valid state but no ``code`` (state is consumed).
* 400 ``OAUTH_DENIED``: the provider reported ``?error=`` (the user refused); carries target.
* 400 ``OAUTH_EMAIL_REQUIRED``: the profile has no (verified, well-formed) e-mail, which the
  account id is derived from; carries target.
* 502 ``OAUTH_PROVIDER_ERROR``: the token or userinfo endpoint failed or answered nonsense.
* 504 ``OAUTH_PROVIDER_TIMEOUT``: a provider call took longer than ``HTTP_TIMEOUT_SECONDS``.

Errors carrying ``target`` happen after the state was verified, so the API may send the
browser back to the SPA with ``?error=``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import redis

from infra.oauth_providers import (
    OAuthError,
    ProviderConfig,
    ProviderName,
    ProviderProfile,
    checked_profile,
    provider_configs,
    provider_error,
    userinfo_claims,
)
from infra.settings import Settings

log = logging.getLogger(__name__)

STATE_PREFIX = "oauth:state:"
COOKIE_PREFIX = "lm_oauth_"
HTTP_TIMEOUT_SECONDS = 5.0
CALLBACK_PATH = "/login/oauth2/code/{provider}"
_STATE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _state_invalid() -> OAuthError:
    return OAuthError(
        400,
        "로그인 요청이 만료되었거나 올바르지 않습니다 (invalid or expired OAuth state)",
        "OAUTH_STATE_INVALID",
    )


@dataclass(frozen=True)
class PendingLogin:
    """What ``start`` stored under the state."""

    provider: ProviderName
    target: str
    verifier: str | None
    created_at: float


@dataclass(frozen=True)
class Authorization:
    """Where ``start`` sends the browser, and the cookie that binds the state to it."""

    url: str
    state: str
    cookie_name: str
    cookie_value: str
    max_age: int


@dataclass(frozen=True)
class FinishedLogin:
    target: str
    profile: ProviderProfile


def canonical_origin(value: str) -> str | None:
    """``scheme://host[:port]`` for a bare http(s) origin, else None.

    Refuses anything but an origin: userinfo (``user@host``), paths other than ``/``, queries,
    fragments, scheme-relative ``//host``, backslashes, whitespace and control characters.
    Scheme and host are lower-cased and a default port is dropped, so equal origins compare
    equal as strings.
    """
    if (
        not value
        or len(value) > 300
        or not value.isascii()
        or any(ch.isspace() or ch in "\\?#" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
    ):
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    bracketed = f"[{host}]" if ":" in host else host
    if (
        scheme not in _DEFAULT_PORTS
        or "@" in parts.netloc
        or parts.path not in ("", "/")
        or not re.fullmatch(r"[a-z0-9.-]+|\[[0-9a-f:.]+\]", bracketed)
    ):
        return None
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{bracketed}"
    return f"{scheme}://{bracketed}:{port}"


def binding_cookie_name(state: str) -> str:
    """One cookie per state, so two sign-ins in two tabs do not overwrite each other."""
    return COOKIE_PREFIX + hashlib.sha256(state.encode()).hexdigest()[:16]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OAuth:
    """The two steps of the flow; one per process (it keeps an HTTP connection pool).

    Thread-safe: all state lives in Redis; the HTTP client is shared.
    """

    def __init__(
        self,
        settings: Settings,
        redis_client: redis.Redis[bytes],
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis_client
        self.providers = provider_configs(settings)
        self._transport = transport
        self._http: httpx.Client | None = None
        self._http_lock = threading.Lock()
        self.allowed_targets: list[str] = []
        for entry in settings.oauth_target_list:
            origin = canonical_origin(entry)
            if origin is None:
                log.warning("ignoring OAuth target %r: not a bare http(s) origin", entry)
            elif origin not in self.allowed_targets:
                self.allowed_targets.append(origin)

    @property
    def http(self) -> httpx.Client:
        """Made on first use (building the TLS context takes ~0.1 s), then pooled."""
        with self._http_lock:
            if self._http is None:
                self._http = httpx.Client(
                    timeout=HTTP_TIMEOUT_SECONDS,
                    transport=self._transport,
                    follow_redirects=False,
                    headers={"Accept": "application/json", "User-Agent": "languagemate-oauth/1"},
                )
            return self._http

    def close(self) -> None:
        with self._http_lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    # -- configuration ------------------------------------------------------------------
    def provider(self, name: str) -> ProviderConfig:
        if name not in self.providers:
            raise OAuthError(
                404,
                f"알 수 없는 로그인 제공자입니다 (unknown provider {name!r})",
                "OAUTH_PROVIDER_UNKNOWN",
            )
        config = self.providers[name]
        if not config.configured:
            raise OAuthError(
                404,
                f"{name} 로그인이 설정되지 않았습니다 (provider {name} is not configured)",
                "OAUTH_PROVIDER_NOT_CONFIGURED",
            )
        return config

    def redirect_uri(self, provider: str) -> str:
        base = (self.settings.oauth_redirect_base or self.settings.public_origin).rstrip("/")
        return base + CALLBACK_PATH.format(provider=provider)

    def allowed_target(self, target: str | None) -> str:
        """The allow-listed origin ``target`` names exactly (the first one when omitted)."""
        if target is None and self.allowed_targets:
            return self.allowed_targets[0]
        origin = canonical_origin(target or "")
        if origin is None or origin not in self.allowed_targets:
            raise OAuthError(
                400,
                "허용되지 않은 target 입니다 (target is not an allowed origin)",
                "OAUTH_TARGET_INVALID",
            )
        return origin

    # -- step 1 -------------------------------------------------------------------------
    @property
    def cookie_secure(self) -> bool:
        """Mark the binding cookie ``Secure`` when the callback is served over https."""
        base = self.settings.oauth_redirect_base or self.settings.public_origin
        return base.lower().startswith("https://")

    def start(self, provider: str, target: str | None) -> Authorization:
        """Remember a new state for ``provider``; say where to send the browser and which
        cookie to give it (the state only works in the browser holding that cookie)."""
        config = self.provider(provider)
        origin = self.allowed_target(target)
        state = secrets.token_urlsafe(32)
        browser_key = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64) if config.pkce else None
        record = {
            "provider": config.name,
            "target": origin,
            "verifier": verifier,
            "binding": _digest(browser_key),
            "created_at": time.time(),
        }
        stored = self.redis.set(
            STATE_PREFIX + state,
            json.dumps(record),
            ex=self.settings.oauth_state_ttl_seconds,
            nx=True,
        )
        if not stored:  # 256 random bits never collide; refuse rather than overwrite anyway
            raise OAuthError(500, "state collision", "OAUTH_STATE_COLLISION")
        params = {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": self.redirect_uri(config.name),
            "state": state,
        }
        if config.scopes:
            params["scope"] = config.scopes
        if verifier is not None:
            params["code_challenge"] = pkce_challenge(verifier)
            params["code_challenge_method"] = "S256"
        separator = "&" if urlsplit(config.authorize_url).query else "?"
        return Authorization(
            url=config.authorize_url + separator + urlencode(params),
            state=state,
            cookie_name=binding_cookie_name(state),
            cookie_value=browser_key,
            max_age=self.settings.oauth_state_ttl_seconds,
        )

    # -- step 2 -------------------------------------------------------------------------
    def consume_state(
        self, provider: str, state: str | None, *, browser_key: str | None
    ) -> PendingLogin:
        """Take the state out of Redis (once). It must have been issued for ``provider`` to
        the browser presenting ``browser_key`` (the cookie named ``binding_cookie_name``)."""
        if not state or not _STATE_SHAPE.fullmatch(state):
            raise _state_invalid()
        raw = self.redis.getdel(STATE_PREFIX + state)
        if raw is None:
            raise _state_invalid()
        try:
            record = json.loads(raw)
            pending = PendingLogin(
                provider=record["provider"],
                target=str(record["target"]),
                verifier=record.get("verifier"),
                created_at=float(record.get("created_at", 0)),
            )
            binding = str(record["binding"])
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable OAuth state record")
            raise _state_invalid() from None
        if pending.provider != provider:
            raise _state_invalid()
        if not hmac.compare_digest(_digest(browser_key or ""), binding):
            # Login CSRF: someone else's authorisation response replayed in this browser.
            raise OAuthError(
                400,
                "로그인을 시작한 브라우저가 아닙니다 (the sign-in was started in another browser)",
                "OAUTH_STATE_INVALID",
            )
        # The allow-list may have shrunk since the state was issued.
        if pending.target not in self.allowed_targets:
            raise _state_invalid()
        return pending

    def denied(
        self,
        provider: str,
        state: str | None,
        *,
        browser_key: str | None,
        error: str,
        description: str,
    ) -> OAuthError:
        """The provider sent ``?error=``: consume the state and describe the refusal."""
        self.provider(provider)
        pending = self.consume_state(provider, state, browser_key=browser_key)
        return OAuthError(
            400,
            description or error,
            "OAUTH_DENIED",
            target=pending.target,
            provider=provider,
            reason=error,
        )

    def finish(
        self, provider: str, code: str | None, state: str | None, *, browser_key: str | None
    ) -> FinishedLogin:
        """Consume the state, redeem the code and read who signed in."""
        config = self.provider(provider)
        pending = self.consume_state(provider, state, browser_key=browser_key)
        if not code:
            raise OAuthError(
                400,
                "인가 코드가 없습니다 (missing authorization code)",
                "OAUTH_CODE_MISSING",
                target=pending.target,
                provider=provider,
                reason="invalid_request",
            )
        assert state is not None  # consume_state accepted it
        access_token = self._exchange(config, pending, code, state)
        request = self.http.build_request(
            "GET", config.userinfo_url, headers={"Authorization": f"Bearer {access_token}"}
        )
        claims = userinfo_claims(config, self._call(config, "userinfo", request))
        profile = checked_profile(claims, pending.provider, pending.target)
        return FinishedLogin(target=pending.target, profile=profile)

    # -- provider calls -----------------------------------------------------------------
    def _call(self, config: ProviderConfig, what: str, request: httpx.Request) -> Any:
        try:
            response = self.http.send(request)
        except httpx.TimeoutException:
            log.warning("%s %s timed out", config.name, what)
            raise OAuthError(
                504,
                f"{config.name} 응답이 지연되었습니다 ({config.name} {what} timed out)",
                "OAUTH_PROVIDER_TIMEOUT",
            ) from None
        except httpx.HTTPError as exc:
            log.warning("%s %s failed: %s", config.name, what, exc)
            raise provider_error(config.name, what) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            log.warning(
                "%s %s answered %s: %.300s", config.name, what, response.status_code, response.text
            )
            raise provider_error(config.name, what)
        return body

    def _exchange(
        self, config: ProviderConfig, pending: PendingLogin, code: str, state: str
    ) -> str:
        form = {
            "grant_type": "authorization_code",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "code": code,
            "redirect_uri": self.redirect_uri(config.name),
        }
        if config.name == "naver":
            form["state"] = state  # Naver's token endpoint wants the state back
        if pending.verifier is not None:
            form["code_verifier"] = pending.verifier
        request = self.http.build_request("POST", config.token_url, data=form)
        body = self._call(config, "token exchange", request)
        token = body.get("access_token")
        if body.get("error") or not isinstance(token, str) or not token:
            # Naver reports a refused code as 200 {"error": ..., "error_description": ...}.
            log.warning(
                "%s token exchange refused: %s %s",
                config.name,
                body.get("error"),
                body.get("error_description"),
            )
            raise provider_error(config.name, "token exchange")
        return token

"""OAuth sign-in routes for the SPA's Google and Naver buttons (spa-contract 2.5, 4.1).

* ``GET /api/v1/login/{provider}?target=<SPA origin>`` (alias ``/api/v1/auth/login/{provider}``):
  302 to the provider. ``Accept: application/json`` gets ``{url}`` instead.
* ``GET /login/oauth2/code/{provider}?code&state`` (the redirect URI registered with the
  providers) and ``GET /api/v1/auth/callback/{provider}?code&state``: exchange the code, sign
  in, then 302 to ``{target}/login/oauth2/code/{provider}?accessToken&refreshToken&provider``;
  with ``Accept: application/json`` the login payload with its keys mirrored at the top level
  (the SPA's fallback reads ``accessToken``, ``refreshToken``, ``name``, ``isNewUser`` there).

A provider refusal (``?error=``) or a refused profile sends the browser back to the SPA with
``?error=&error_description=`` once the state is verified; a bad state is a plain 400, never a
redirect, because the target is not trusted then. Error codes: ``infra/oauth.py``.
"""

from __future__ import annotations

import threading
from typing import Annotated
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from api.deps import PepperDep, RedisDep, SettingsDep, WritesDep, correlation_id
from api.envelope import ok
from api.errors import ApiError
from api.sign_in import SignInDep, client_of
from commands.base import CommandContext
from commands.identity import sign_in
from domain.errors import DomainError
from infra.oauth import CALLBACK_PATH, OAuth, binding_cookie_name
from infra.oauth_providers import OAuthError

router = APIRouter(tags=["oauth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"}
MAX_DESCRIPTION = 200


_service_lock = threading.Lock()


def oauth_service(request: Request, settings: SettingsDep, redis: RedisDep) -> OAuth:
    """One ``OAuth`` per application (its HTTP pool is reused across sign-ins)."""
    state = request.app.state
    with _service_lock:
        service: OAuth | None = getattr(state, "oauth", None)
        if service is None or service.settings is not settings:
            service = OAuth(settings, redis)
            state.oauth = service
    return service


OAuthDep = Annotated[OAuth, Depends(oauth_service)]
Param = Annotated[str | None, Query(max_length=2048)]


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "").lower()


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=302, headers=NO_STORE)


def _browser_key(request: Request, state: str | None) -> str | None:
    return request.cookies.get(binding_cookie_name(state)) if state else None


def _forget_binding(response: Response, state: str | None) -> Response:
    if state:
        response.delete_cookie(binding_cookie_name(state), path="/")
    return response


def _spa_callback(target: str, provider: str, params: dict[str, str]) -> RedirectResponse:
    return _redirect(target + CALLBACK_PATH.format(provider=provider) + "?" + urlencode(params))


def _refusal(exc: OAuthError, request: Request) -> Response:
    """Back to the SPA with ``?error=`` when the state was verified, else an error body."""
    if exc.target is None or exc.provider is None or _wants_json(request):
        raise ApiError(exc.status, exc.message, exc.code)
    params = {
        "error": exc.reason[:64],
        "error_description": exc.message[:MAX_DESCRIPTION],
        "provider": exc.provider,
    }
    return _spa_callback(exc.target, exc.provider, params)


@router.get("/api/v1/login/{provider}", response_model=None)
@router.get("/api/v1/auth/login/{provider}", response_model=None)
def login_start(
    provider: str, *, request: Request, oauth: OAuthDep, target: Param = None
) -> Response:
    """Start a sign-in: 302 to the provider's consent page (contract 2.5 step 1)."""
    try:
        started = oauth.start(provider, target)
    except OAuthError as exc:
        raise ApiError(exc.status, exc.message, exc.code) from None
    response: Response
    if _wants_json(request):
        response = JSONResponse(ok({"url": started.url}), headers=NO_STORE)
    else:
        response = _redirect(started.url)
    response.set_cookie(
        started.cookie_name,
        started.cookie_value,
        max_age=started.max_age,
        path="/",
        secure=oauth.cookie_secure,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/login/oauth2/code/{provider}", response_model=None)
@router.get("/api/v1/auth/callback/{provider}", response_model=None)
def login_callback(
    provider: str,
    *,
    request: Request,
    writes: WritesDep,
    pepper: PepperDep,
    signing_in: SignInDep,
    oauth: OAuthDep,
    correlation: Annotated[UUID, Depends(correlation_id)],
    code: Param = None,
    state: Param = None,
    error: Param = None,
    error_description: Param = None,
) -> Response:
    """The provider's redirect back: sign in and hand the tokens to the SPA."""
    browser_key = _browser_key(request, state)
    try:
        if error:
            raise oauth.denied(
                provider,
                state,
                browser_key=browser_key,
                error=error,
                description=error_description or "",
            )
        finished = oauth.finish(provider, code, state, browser_key=browser_key)
    except OAuthError as exc:
        return _forget_binding(_refusal(exc, request), state)
    profile = finished.profile
    try:
        outcome = sign_in(
            writes.bus,
            CommandContext(correlation_id=correlation),
            pepper=pepper,
            email=profile.email,
            name=profile.name,
            provider=profile.provider,
            client=client_of(request),
        )
    except DomainError as exc:  # e.g. a deactivated account
        if _wants_json(request):
            raise
        failure = OAuthError(
            400,
            exc.message,
            exc.code,
            target=finished.target,
            provider=provider,
            reason=exc.code.lower(),
        )
        return _forget_binding(_refusal(failure, request), state)
    payload = signing_in.login_response(outcome)
    if _wants_json(request):
        name = payload["user"]["name"] or profile.name
        body = ok({**payload, "name": name, "provider": provider}, mirror=True)
        return _forget_binding(JSONResponse(body, headers=NO_STORE), state)
    tokens = {
        "accessToken": payload["accessToken"],
        "refreshToken": payload["refreshToken"],
        "provider": provider,
    }
    return _forget_binding(_spa_callback(finished.target, provider, tokens), state)

"""Request body limits, enforced before a body is read (issue 23).

Without them any JSON route read a whole body before validating it: one anonymous 80 MB
``POST /auth/dev-login`` kept 300 MB resident, eight in parallel took the process past
1.7 GB. Now every route has a largest body: ``max_body_bytes`` (1 MiB, JSON and forms) or,
for the routes in :data:`UPLOAD_ROUTES`, their files' caps plus ``MULTIPART_ALLOWANCE``.

* A declared ``Content-Length`` over the route's limit is answered 413 at once: the body
  is never read and the endpoint never runs, so nothing is appended or stored.
* A body without one (chunked) is counted as it arrives and cut off with 413 as soon as it
  passes the limit; the endpoint is then told the client went away, and whatever it answers
  is dropped. So no request holds more than its limit plus one read (64 KiB) in memory;
  uploads hold even less, as Starlette spools files to disk past 1 MiB.
* A body that stalls for ``http_body_timeout_seconds`` is answered 408.

Refusals close the connection (``Connection: close``) rather than read and discard the rest.
A client that keeps sending after the answer may see the connection reset before it reads
the 413; browsers read while they send, and ``Expect: 100-continue`` clients send nothing.

Why not Starlette's ``RequestBodyLimitMiddleware`` (FastAPI's ``max_body_size``): it looks
at a declared length only when the endpoint first reads the body, so a route without a body
parameter runs, and appends its events, before its answer is replaced by a 413; its limits
are fixed where routes are declared, not settings; its 413 is plain text outside the error
envelope and leaves the connection open, so the server goes on reading the rest.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, params
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.envelope import error
from api.i18n import message, parse_accept_language
from api.uploads import MAX_IMAGES
from infra.settings import MULTIPART_ALLOWANCE, Settings

UPLOAD_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/level-test/voice/{test_id}/upload"): "recording",
    ("POST", "/api/v1/level-test/{test_id}/audio-answer"): "recording",
    ("POST", "/api/v1/leveltest/voice/transcribe"): "recording",
    ("POST", "/api/v1/users/me/profile-image"): "image",
    ("POST", "/api/v1/chat/rooms/{room_id}/images"): "images",
}
"""Routes that take files, by what they take; every other route gets ``max_body_bytes``.
Start-up fails if a route listed here is gone or a route taking files is not listed."""
LIMIT_EXTENSION = "x-max-body-bytes"


def upload_caps(settings: Settings) -> dict[str, int]:
    """The largest body per kind of upload: its files and the multipart framing."""
    return {
        "recording": settings.recording_max_bytes + MULTIPART_ALLOWANCE,
        "image": settings.image_max_bytes + MULTIPART_ALLOWANCE,
        "images": MAX_IMAGES * settings.image_max_bytes + MULTIPART_ALLOWANCE,
    }


def _takes_files(route: APIRoute) -> bool:
    return any(isinstance(p.field_info, params.File) for p in route.dependant.body_params)


def operations(routes: list[BaseRoute], settings: Settings) -> list[tuple[RouteContext, int]]:
    """Every HTTP operation with its body limit (uploads first: the middleware scans them)."""
    caps, found = upload_caps(settings), set()
    limited: list[tuple[RouteContext, int]] = []
    for context in iter_route_contexts(routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        kinds = {UPLOAD_ROUTES.get((m, context.path_format or "")) for m in context.methods or ()}
        kind = next(iter(kinds - {None}), None)
        if kind is None and _takes_files(route):
            raise RuntimeError(f"{context.path_format} takes files but has no cap in UPLOAD_ROUTES")
        if kind is not None:
            found |= {(m, context.path_format) for m in context.methods or ()}
        limited.append((context, caps[kind] if kind else settings.max_body_bytes))
    if missing := set(UPLOAD_ROUTES) - found:
        raise RuntimeError(f"UPLOAD_ROUTES names routes that do not exist: {sorted(missing)}")
    return limited


def declared_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


async def refuse(scope: Scope, send: Send, status: int, limit: int) -> None:
    """The error envelope, in the caller's ``Accept-Language``, and the connection closed."""
    code, fallback = {
        413: ("PAYLOAD_TOO_LARGE", f"the request body is larger than {limit} bytes"),
        408: ("REQUEST_TIMEOUT", "the request body stopped arriving"),
    }[status]
    lang = parse_accept_language(Headers(scope=scope).get("accept-language"))
    response = error(status, message(code, lang, fallback), code, {"maxBytes": limit},
                     headers={"Connection": "close"})  # fmt: skip
    await response(scope, _nothing, send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def install(app: FastAPI, settings: Settings) -> None:
    """The middleware, and the limits in the OpenAPI document. Install it after
    api.admission and before api.app.RequestContext and CORS: it then runs inside those two,
    so a 413 carries CORS headers (a browser can read it) and is logged and counted like any
    answer, and outside admission, so a declared length over the limit is answered 413 even
    while the process sheds (a 503 would tell the client to send again what can never fit)."""
    app.add_middleware(BodyLimits, router=app.router, settings=settings)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document(build(), app.routes, settings)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


class BodyLimits:
    """The ASGI middleware. Built with the middleware stack, on the first request, when
    every router is included."""

    def __init__(self, app: ASGIApp, *, router: Router, settings: Settings) -> None:
        self.app = app
        self.default = settings.max_body_bytes
        self.operations = operations(router.routes, settings)
        self.uploads = [(c, limit) for c, limit in self.operations if limit != self.default]
        self.upload_methods = frozenset(method for method, _ in UPLOAD_ROUTES)
        self.body_timeout = settings.http_body_timeout_seconds

    def _limit_for(self, scope: Scope) -> int:
        """The upload cap of the route ``scope`` goes to, else the default; a GET is never
        an upload, so it skips the matching (a few per cent of a do-nothing request's time)."""
        if scope["method"] in self.upload_methods:
            for context, limit in self.uploads:
                if context.matches(scope)[0] is Match.FULL:
                    return limit
        return self.default

    def _name_route(self, scope: Scope) -> None:
        """Tell the access log and metrics (api.app.RequestContext) which route refused a
        declared length, since routing never ran; only on such refusals, which are rare."""
        for context, _ in self.operations:
            if context.matches(scope)[0] is Match.FULL:
                scope["route"] = context.original_route
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope)
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            self._name_route(scope)
            await refuse(scope, send, 413, limit)
            return
        guard = _BodyGuard(scope, receive, send, limit, self.body_timeout)
        await self.app(scope, guard.receive, guard.send)


class _BodyGuard:
    """One request's ``receive`` and ``send``, counting the body on its way in."""

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, limit: int, timeout: float
    ) -> None:
        self.scope, self._receive, self._send = scope, receive, send
        self.limit, self.timeout = limit, timeout
        self.received = 0
        self.complete = False
        self.started = False
        self.refused = False

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        if self.complete:  # after the body: the wait for a disconnect has no deadline
            return await self._receive()
        try:
            async with asyncio.timeout(self.timeout):
                message = await self._receive()
        except TimeoutError:
            return await self._refuse(408)
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                return await self._refuse(413)
            self.complete = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if self.refused:  # the endpoint's answer to a body it never got: already answered
            return
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)

    async def _refuse(self, status: int) -> dict[str, Any]:
        self.refused = True
        if not self.started:
            await refuse(self.scope, self._send, status, self.limit)
        return {"type": "http.disconnect"}


def document(document: dict[str, Any], routes: list[BaseRoute], settings: Settings) -> None:
    """Each operation says its limit (``x-max-body-bytes``); those with a body also the 413
    (in the error envelope that api.openapi adds to the document's schemas)."""
    for context, limit in operations(routes, settings):
        path = document["paths"].get(context.path_format, {})
        for method in context.methods or ():
            operation = path.get(method.lower())
            if operation is None:
                continue
            operation[LIMIT_EXTENSION] = limit
            if "requestBody" in operation:
                operation.setdefault("responses", {})["413"] = {
                    "description": f"Too large: the body may be at most {limit} bytes",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ErrorEnvelope"}
                        }
                    },
                }

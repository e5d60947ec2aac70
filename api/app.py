"""The FastAPI application: routers per context, the envelope, errors, CORS and metrics."""

from __future__ import annotations

import logging
import time
from typing import Any
from uuid import UUID, uuid4

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from opentelemetry.trace import SpanKind
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import (
    achievements,
    admin,
    admission,
    ai_service,
    analytics,
    asyncapi,
    blank_params,
    body_limits,
    catalogs,
    chat,
    dashboard,
    errors,
    export,
    files,
    front_door,
    identity,
    level_tests,
    matches,
    matching,
    notifications,
    oauth,
    onboarding,
    openapi,
    profiles,
    rooms,
    sessions,
    settings,
    socket_limits,
    sync,
    system,
)
from api.services import Services
from infra import tracing
from infra.logs import correlated
from infra.metrics import REQUEST_LATENCY

access_log = logging.getLogger("languagemate.access")


def _correlation_header(scope: Scope) -> str:
    """The caller's ``X-Correlation-Id`` when it is a UUID, else a new one."""
    for name, value in scope.get("headers", []):
        if name == b"x-correlation-id":
            try:
                return str(UUID(value.decode("latin-1")))
            except ValueError:
                break
    return str(uuid4())


def _trace_headers(scope: Scope) -> dict[str, str]:
    """The caller's W3C trace context, if it sent one (a traced gateway or client)."""
    wanted = {b"traceparent", b"tracestate"}
    return {
        name.decode(): value.decode("latin-1")
        for name, value in scope.get("headers", [])
        if name in wanted
    }


class RequestContext:
    """Per request (and socket): latency by route template, the correlation id that its
    events, its log lines and the ``X-Correlation-Id`` response header share, and (when
    tracing is on) the server span every command of the request is a child of. Plain ASGI
    middleware: Starlette's ``BaseHTTPMiddleware`` costs a task and a stream per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        correlation_id = _correlation_header(scope)
        with correlated(correlation_id):
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
                return
            await self._http(scope, receive, send, correlation_id)

    async def _http(self, scope: Scope, receive: Receive, send: Send, correlation_id: str) -> None:
        if not tracing.enabled():
            await self._timed(scope, receive, send, correlation_id)
            return
        method = scope["method"]
        with tracing.span(
            method,
            parent_context=_trace_headers(scope),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "languagemate.correlation_id":
                        correlation_id},
        ) as span:  # fmt: skip
            assert span is not None
            try:
                status = await self._timed(scope, receive, send, correlation_id)
                span.set_attribute("http.response.status_code", status)
            finally:
                # The route template, never the path: paths hold ids and e-mails.
                template = getattr(scope.get("route"), "path", "unmatched")
                span.update_name(f"{method} {template}")
                span.set_attribute("http.route", template)

    async def _timed(self, scope: Scope, receive: Receive, send: Send, correlation_id: str) -> int:
        """Run the request, record its latency and access log line; returns the status."""
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-correlation-id", correlation_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            seconds = time.perf_counter() - started
            REQUEST_LATENCY.labels(scope["method"], template, f"{status['code'] // 100}xx").observe(
                seconds
            )
            # The route template, never the path or query: those can hold e-mails and ids.
            access_log.info(
                "%s %s %d %.1f ms", scope["method"], template, status["code"], seconds * 1000
            )
        return int(status["code"])


def create_app(rt: Services) -> FastAPI:
    app = FastAPI(title="LanguageMate API", version="0.1.0", docs_url="/docs")
    app.state.runtime = rt
    errors.install(app)
    socket_limits.install(app, rt)
    admission.install(app, rt.settings, rt.read_models_behind)
    body_limits.install(app, rt.settings)
    app.add_middleware(blank_params.BlankQueryParams)
    app.add_middleware(RequestContext)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=rt.settings.cors_origin_list,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Accept",
            "Idempotency-Key",
            "X-Correlation-Id",
            # A traced client (the SPA, a gateway) continues its trace here (docs/tracing.md).
            "traceparent",
            "tracestate",
        ],
        # What the SPA may read of an answer besides the simple headers: when to retry a
        # shed request, and whether a write's read model was late (api/admission.py).
        expose_headers=["Retry-After", "X-Read-Your-Writes", "X-Correlation-Id"],
        max_age=600,
    )
    for module in (
        system,
        front_door,
        asyncapi,
        admin,
        dashboard,
        ai_service,
        identity,
        level_tests,
        oauth,
        catalogs,
        onboarding,
        profiles,
        files,
        settings,
        export,
        matching,
        matches,
        chat,
        notifications,
        rooms,
        sessions,
        sync,
        analytics,
        achievements,
    ):
        app.include_router(module.router)
    app.include_router(sessions.groups)
    app.include_router(chat.sockets)
    app.include_router(notifications.sockets)
    openapi.install(app)
    return app

"""The FastAPI application: routers per context, the envelope, errors, CORS and metrics."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import (
    achievements,
    admin,
    ai_service,
    analytics,
    catalogs,
    chat,
    dashboard,
    errors,
    identity,
    level_tests,
    matching,
    notifications,
    oauth,
    openapi,
    profiles,
    rooms,
    sessions,
    sync,
    system,
)
from infra.metrics import REQUEST_LATENCY
from infra.runtime import Runtime


class RequestMetrics:
    """Request latency by route template, as plain ASGI middleware (Starlette's
    ``BaseHTTPMiddleware`` costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_LATENCY.labels(scope["method"], template, f"{status['code'] // 100}xx").observe(
                time.perf_counter() - started
            )


def create_app(rt: Runtime) -> FastAPI:
    app = FastAPI(title="LanguageMate API", version="0.1.0", docs_url="/docs")
    app.state.runtime = rt
    errors.install(app)
    app.add_middleware(RequestMetrics)
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
        ],
        max_age=600,
    )
    for module in (
        system,
        admin,
        dashboard,
        ai_service,
        identity,
        level_tests,
        oauth,
        catalogs,
        profiles,
        matching,
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

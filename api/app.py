"""The FastAPI application: routers per context, the envelope, errors, CORS and metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware

from api import catalogs, errors, identity, matching, oauth, profiles, system
from infra.metrics import REQUEST_LATENCY
from infra.runtime import Runtime


def create_app(rt: Runtime) -> FastAPI:
    app = FastAPI(title="LanguageMate API", version="0.1.0", docs_url="/docs")
    app.state.runtime = rt
    errors.install(app)
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

    @app.middleware("http")
    async def _timing(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        REQUEST_LATENCY.labels(
            request.method, template, f"{response.status_code // 100}xx"
        ).observe(time.perf_counter() - started)
        return response

    for module in (system, identity, oauth, catalogs, profiles, matching):
        app.include_router(module.router)
    return app

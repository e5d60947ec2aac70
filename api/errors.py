"""Errors to HTTP in one place: domain errors by kind, bad input as 422, a dependency that
does not answer (PostgreSQL, Redis) as 503 with ``Retry-After``, a database pool whose
connections are all busy as 503 ``OVERLOADED`` (a shed, like api/admission.py's), the rest
as 500.

403 is reserved for real authorisation failures because the SPA logs the user out on it.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import psycopg_pool
import redis.exceptions
import sqlalchemy.exc
from eventsourcing import persistence
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.envelope import error
from domain.errors import (
    ConcurrencyConflict,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    RuleViolation,
)
from infra.metrics import REQUESTS_SHED

log = logging.getLogger(__name__)

UNAVAILABLE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    persistence.OperationalError,
    persistence.InterfaceError,
    persistence.ConnectionUnavailableError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
"""Failures of a dependency, not of the request: the client may retry the same request
(commands carry idempotency keys), so they are a 503, never a 500."""
RETRY_AFTER_SECONDS = 2
POOL_EXHAUSTED: tuple[type[Exception], ...] = (
    sqlalchemy.exc.TimeoutError,  # the read-model and key-store pools: every connection busy
    psycopg_pool.TooManyRequests,  # the event store's pool: 64 requests already wait for one
)
"""The process has more work than connections, so it sheds; the database may be fine.
The event store's ``psycopg_pool.PoolTimeout`` is not among them: that pool raises it as
well when it cannot reach the server, so it stays ``SERVICE_UNAVAILABLE`` (also a 503)."""

STATUS_BY_KIND: list[tuple[type[DomainError], int]] = [
    (ConcurrencyConflict, 409),
    (Conflict, 409),
    (NotFound, 404),
    (Forbidden, 403),
    (RuleViolation, 422),
    (DomainError, 400),
]


class ApiError(Exception):
    """An HTTP-level refusal raised by routes and dependencies (auth, feature flags)."""

    def __init__(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers


def _pool_exhausted(exc: BaseException | None) -> bool:
    """Whether ``exc`` or what caused it (eventsourcing wraps psycopg's errors) is one."""
    while exc is not None:
        if isinstance(exc, POOL_EXHAUSTED):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def status_for(exc: DomainError) -> int:
    return next(status for kind, status in STATUS_BY_KIND if isinstance(exc, kind))


async def _localised(
    request: Request,
    status: int,
    fallback: str,
    code: str,
    details: Any = None,
    *,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    from api.i18n import message, request_language

    lang = await run_in_threadpool(request_language, request)
    return error(status, message(code, lang, fallback), code, details, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return await _localised(request, status_for(exc), exc.message, exc.code, exc.details)

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return await _localised(request, exc.status, exc.message, exc.code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
            for e in exc.errors()
        ]
        return await _localised(
            request, 422, "invalid input", "VALIDATION_ERROR", {"fields": fields}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        headers = getattr(exc, "headers", None)
        return await _localised(request, exc.status_code, str(exc.detail), code, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        route = getattr(request.scope.get("route"), "path", "unmatched")
        if _pool_exhausted(exc):
            REQUESTS_SHED.labels("db_pool").inc()
            log.warning("no database connection in time on %s %s", request.method, route)
            from api.admission import overloaded  # api.i18n imports this module

            return overloaded(request.headers.get("accept-language"))
        if isinstance(exc, UNAVAILABLE):
            log.warning("dependency unavailable on %s %s: %r", request.method, route, exc)
            return error(
                503,
                "일시적으로 사용할 수 없습니다. 잠시 후 다시 시도하세요 (temporarily unavailable)",
                "SERVICE_UNAVAILABLE",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        # The route template, not the path: paths can hold personal data.
        log.exception("unhandled error on %s %s", request.method, route)
        return error(500, "서버 오류가 발생했습니다 (internal error)", "INTERNAL_ERROR")

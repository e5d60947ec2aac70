"""Admission control: a process past what it can serve in time sheds (issue 23).

Without it an overloaded API process queued everything it was sent: requests waited for a
worker thread (anyio's pool of 40) or a database connection without bound, so past the knee
every answer grew slower (docs/reliability.md: p99 2.2 s at 1.5 times the knee's rate) and
nothing told a client to come back later. Now each process admits at most
``admission_max_in_flight`` requests at once. Requests past that wait, first come first
served, at most ``admission_queue_seconds`` and only while fewer than
``admission_max_queued`` wait; any other is answered at once with 503, ``Retry-After``
and the error envelope (code ``OVERLOADED``). A shed request never reached a route, so it
changed nothing, and the client may send it again (commands carry idempotency keys).

Never shed: the health, readiness and metrics routes (:data:`NEVER_SHED`: an orchestrator
and Prometheus must see an overloaded process as it is, alive and ready, not as dead) and
sockets (they hold a connection, not a worker; api/socket_limits.py caps them). Requests
that wait on purpose (level-test ``analyze``, the AI service) hold a worker thread while
they wait, so they are counted like any other.

Two other waits are bounded too: a read-model or key-store pool with every connection busy
past ``db_pool_timeout_seconds`` is a 503 ``OVERLOADED`` as well (api/errors.py), and a
write whose read model is late (the read-your-writes wait, app/runtime.py) is still a
success, as the write is stored, marked ``X-Read-Your-Writes: late``
(eventflow.applied.note_late_read).
"""

from __future__ import annotations

import asyncio
from collections import deque

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.envelope import error
from api.i18n import message, parse_accept_language
from eventflow.applied import LATE_READS
from infra.metrics import REQUESTS_SHED
from infra.settings import Settings

RETRY_AFTER_SECONDS = 1
"""What a shed request is told to wait: a place frees as soon as one request ends, so a
burst that passes is over within a queue wait or two."""
NEVER_SHED = frozenset({"/health", "/health/live", "/health/ready", "/api/v1/health", "/metrics"})
LATE_READ_HEADER = b"x-read-your-writes"


class Gate:
    """``slots`` places, and a first-come-first-served queue of at most ``queue_max``
    waiters, on one event loop."""

    def __init__(self, slots: int, queue_max: int) -> None:
        self.free = slots
        self.queue_max = queue_max
        self.waiters: deque[asyncio.Future[None]] = deque()

    async def enter(self, budget: float) -> str | None:
        """Take a place, waiting at most ``budget`` seconds; ``None`` once it is taken,
        else why not (``queue_full``, ``queue_wait``): the reason label of the shed."""
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return None
        if len(self.waiters) >= self.queue_max or budget <= 0:
            return "queue_full"
        place = asyncio.get_running_loop().create_future()
        self.waiters.append(place)
        try:
            async with asyncio.timeout(budget):
                await place
        except TimeoutError:
            pass
        except BaseException:  # cancelled (the client went, the server stops)
            self._abandon(place)
            raise
        if place.done() and not place.cancelled():  # handed over, even if just as time ran out
            return None
        self._abandon(place)
        return "queue_wait"

    def leave(self) -> None:
        """Give a place back: to the longest waiter still waiting, else to the pool."""
        while self.waiters:
            place = self.waiters.popleft()
            if not place.done():
                place.set_result(None)
                return
        self.free += 1

    def _abandon(self, place: asyncio.Future[None]) -> None:
        if place.done() and not place.cancelled():
            self.leave()  # a place handed to a waiter that will not use it: pass it on
        elif place in self.waiters:
            self.waiters.remove(place)


def install(app: FastAPI, settings: Settings) -> None:
    """Install it after api.body_limits and before api.app.RequestContext and CORS: a 503
    then carries CORS headers (a browser can read it) and is logged and counted like any
    answer, and no body is read before a request is admitted."""
    app.add_middleware(Admission, settings=settings)


class Admission:
    """The ASGI middleware. One :class:`Gate` per process (uvicorn runs one event loop)."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.gate = Gate(settings.admission_max_in_flight, settings.admission_max_queued)
        self.budget = settings.admission_queue_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NEVER_SHED:
            await self.app(scope, receive, send)
            return
        refused = await self.gate.enter(self.budget)
        if refused is not None:
            REQUESTS_SHED.labels(refused).inc()
            response = overloaded(Headers(scope=scope).get("accept-language"))
            await response(scope, receive, send)  # the body is never read
            return
        late: list[str] = []
        token = LATE_READS.set(late)

        async def mark_late(message: Message) -> None:
            if message["type"] == "http.response.start" and late:
                message = {**message, "headers": [*message.get("headers", []),
                                                  (LATE_READ_HEADER, b"late")]}  # fmt: skip
            await send(message)

        try:
            await self.app(scope, receive, mark_late)
        finally:
            LATE_READS.reset(token)
            self.gate.leave()


def overloaded(accept_language: str | None) -> JSONResponse:
    """503 ``OVERLOADED`` with ``Retry-After``, in the language of ``Accept-Language``
    only: the user's chosen language is in a read model, and this answer must not wait
    for the database."""
    lang = parse_accept_language(accept_language)
    return error(503, message("OVERLOADED", lang, "the server is busy; try again shortly"),
                 "OVERLOADED", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})  # fmt: skip

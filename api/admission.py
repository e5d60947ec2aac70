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
and Prometheus must see an overloaded process as it is, alive and ready, not as dead), the
token refresh (a failed refresh logs the SPA's user out) and sockets (they hold a
connection, not a worker; api/socket_limits.py caps them). A request that then waits on
purpose, for minutes perhaps (level-test ``analyze`` waits for the workers' assessment),
gives its place back when it starts waiting (:func:`give_back_place`): a few users
waiting for their results must not fill a process's places.

Writes are shed on one more signal, the projectors' lag: while every place is taken and a
read-your-writes wait of this process has waited longer than
``admission_read_model_lag_seconds``, a write (POST, PUT, PATCH, DELETE) is answered 503
``OVERLOADED`` at once instead of queueing. A write accepted then would wait at least as
long for its read model, holding a place, and its events would add to what the projectors
are behind on; reads still queue, as they add nothing. With a place free, a lagging read
model refuses nothing: a projector that is stopped or restarting is no overload, and a
write then is stored and answered late, as before (a graceful stop costs no client a 5xx).

Any request is shed on a third signal, the event loop's lag (:class:`LoopLag`, off unless
``admission_loop_lag_seconds`` is set, as ``languagemate api`` does by default): while at
least half the places are taken and the loop runs later than the bound (two ticks in a
row), a request is answered 503 at once rather than left in the socket's buffer. With
fewer requests in flight a late loop is not their doing (a neighbour on the same cores, a
transcribing worker, or the process's own threads holding the GIL, took the time):
refusing the few would not give the time back, and would refuse a lone user.

Two other waits are bounded too: a read-model or key-store pool with every connection busy
past ``db_pool_timeout_seconds`` is a 503 ``OVERLOADED`` as well (api/errors.py), and a
write already accepted whose read model is late (the read-your-writes wait,
app/runtime.py) is still a success, as the write is stored, marked
``X-Read-Your-Writes: late`` (eventflow.applied.note_late_read).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar

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
NEVER_SHED = frozenset({
    "/health", "/health/live", "/health/ready", "/api/v1/health", "/metrics",
    "/api/v1/auth/refresh",
})  # fmt: skip
"""Health, readiness and metrics, which must show the process as it is; and the token
refresh, because the SPA logs its user out on any refresh that fails, whatever the status
(spa-contract section 2.3), and a refresh waits for no read model."""
LATE_READ_HEADER = b"x-read-your-writes"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LAG_TICK_SECONDS = 0.05
"""How often :class:`LoopLag` looks, while the process serves requests."""


class Gate:
    """``slots`` places, and a first-come-first-served queue of at most ``queue_max``
    waiters, on one event loop."""

    def __init__(self, slots: int, queue_max: int) -> None:
        self.slots = slots
        self.free = slots
        self.queue_max = queue_max
        self.waiters: deque[asyncio.Future[None]] = deque()

    def busy(self) -> bool:
        return self.free < self.slots or bool(self.waiters)

    def taken(self) -> int:
        return self.slots - self.free

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


class LoopLag:
    """How late the event loop runs what is ready: a timer due every
    :data:`LAG_TICK_SECONDS`, and how much later than due it ran at each of its last two
    ticks (the lesser of the two). Past the machine's capacity the time goes before a
    request reaches any middleware (in the socket's buffer while the loop, starved of CPU
    or of the GIL, has not read it yet), which no count of requests in flight shows; this
    does. One late tick is not that: a garbage collection or a neighbour's burst on the
    same cores delays a single tick, and shedding on it refused requests the process then
    served in time (2-17 sheds a step at 82-95 % of the machine, p99 200-620 ms). It ticks
    only while the process serves requests (the first starts it, and it stops at a tick
    with none), so an idle server does not wake for it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._last = 0.0
        self._task: asyncio.Task[None] | None = None

    def record(self, late: float) -> None:
        """A tick ran ``late`` seconds after it was due."""
        self.seconds, self._last = min(self._last, late), late

    def watch(self, busy: Callable[[], bool]) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._tick(busy))

    async def _tick(self, busy: Callable[[], bool]) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                due = loop.time() + LAG_TICK_SECONDS
                await asyncio.sleep(LAG_TICK_SECONDS)
                self.record(max(0.0, loop.time() - due))
                if not busy():
                    return
        finally:
            self.seconds = self._last = 0.0
            self._task = None


class Place:
    """One admitted request's place in the :class:`Gate`, which it may give back before it
    ends (from its worker thread, too: the gate lives on the event loop)."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.loop = asyncio.get_running_loop()
        self.given_back = False

    def give_back(self) -> None:
        if not self.given_back:
            self.given_back = True
            self.loop.call_soon_threadsafe(self.gate.leave)


PLACE: ContextVar[Place | None] = ContextVar("admission_place", default=None)


def give_back_place() -> None:
    """The current request is about to wait on purpose, holding no CPU and no connection:
    let another request have its place meanwhile. Outside an admitted request, nothing."""
    place = PLACE.get()
    if place is not None:
        place.give_back()


def install(app: FastAPI, settings: Settings, behind: Callable[[], float]) -> None:
    """Install it before api.body_limits, api.app.RequestContext and CORS: a 503 then
    carries CORS headers (a browser can read it) and is logged and counted like any answer,
    a declared length over its route's limit is refused 413 before it could be shed, and no
    body is read before a request is admitted. ``behind`` tells how long the process's
    oldest read-your-writes wait has waited (app.runtime.Runtime)."""
    app.add_middleware(Admission, settings=settings, behind=behind)


class Admission:
    """The ASGI middleware. One :class:`Gate` per process (uvicorn runs one event loop)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        behind: Callable[[], float],
        loop_lag: LoopLag | None = None,
    ) -> None:
        self.app = app
        self.gate = Gate(settings.admission_max_in_flight, settings.admission_max_queued)
        self.budget = settings.admission_queue_seconds
        self.behind = behind
        self.lag_bound = settings.admission_read_model_lag_seconds
        self.loop_lag = loop_lag or LoopLag()
        self.loop_lag_bound = settings.admission_loop_lag_seconds or 0.0
        self.loop_lag_busy = max(1, self.gate.slots // 2)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NEVER_SHED:
            await self.app(scope, receive, send)
            return
        if self.loop_lag_bound:
            self.loop_lag.watch(self.gate.busy)
        refused = self._refused(scope["method"]) or await self.gate.enter(self.budget)
        if refused is not None:
            REQUESTS_SHED.labels(refused).inc()
            response = overloaded(Headers(scope=scope).get("accept-language"))
            await response(scope, receive, send)  # the body is never read
            return
        late: list[str] = []
        token = LATE_READS.set(late)
        place = Place(self.gate)
        admitted = PLACE.set(place)

        async def mark_late(message: Message) -> None:
            if message["type"] == "http.response.start" and late:
                message = {**message, "headers": [*message.get("headers", []),
                                                  (LATE_READ_HEADER, b"late")]}  # fmt: skip
            await send(message)

        try:
            await self.app(scope, receive, mark_late)
        finally:
            LATE_READS.reset(token)
            PLACE.reset(admitted)
            if not place.given_back:
                self.gate.leave()

    def _refused(self, method: str) -> str | None:
        """Why a request is shed before it queues for a place, if it is."""
        if method in WRITES and self.gate.free == 0 and self.behind() > self.lag_bound:
            return "read_model_lag"
        if (self.loop_lag_bound and self.gate.taken() >= self.loop_lag_busy
                and self.loop_lag.seconds > self.loop_lag_bound):  # fmt: skip
            return "loop_lag"
        return None


def overloaded(accept_language: str | None) -> JSONResponse:
    """503 ``OVERLOADED`` with ``Retry-After``, in the language of ``Accept-Language``
    only: the user's chosen language is in a read model, and this answer must not wait
    for the database."""
    lang = parse_accept_language(accept_language)
    return error(503, message("OVERLOADED", lang, "the server is busy; try again shortly"),
                 "OVERLOADED", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})  # fmt: skip

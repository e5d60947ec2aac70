"""Admission control (api/admission.py) on a real ASGI application: requests past the
bound are shed with 503 and ``Retry-After``, the rest are served, health always answers.

The routes below wait on events the test sets, so which requests hold a place and which
wait is decided by the test, never by timing. What a whole ``languagemate serve`` does
under a burst (writes stored or refused, never half) is in tests/e2e/test_overload_sheds.py.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.admission import Admission, Gate, LoopLag, give_back_place
from devservices.settings import make_settings
from eventflow.applied import note_late_read
from infra.settings import API_PROCESS_LOOP_LAG_SECONDS


class Held:
    """An application whose ``/hold/{key}`` requests wait until the test releases them."""

    def __init__(self) -> None:
        self.releases: dict[str, asyncio.Event] = {}
        self.entered: Counter[str] = Counter()
        self.started = asyncio.Event()

    def release(self, key: str) -> None:
        self.releases.setdefault(key, asyncio.Event()).set()

    async def hold(self, request: Request) -> JSONResponse:
        key = request.path_params["key"]
        self.entered[key] += 1
        self.started.set()
        await self.releases.setdefault(key, asyncio.Event()).wait()
        return JSONResponse({"key": key})

    async def wait_on_purpose(self, request: Request) -> JSONResponse:
        """Gives its place back, as level-test ``analyze`` does, then waits like ``hold``."""
        give_back_place()
        return await self.hold(request)

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "UP"})

    async def boom(self, request: Request) -> JSONResponse:
        raise RuntimeError("the route failed")

    def late(self, request: Request) -> JSONResponse:
        """Sync, like the routes that write: FastAPI runs them in a worker thread."""
        self.entered["late"] += 1
        note_late_read("accounts")
        return JSONResponse({"stored": True})

    def asgi(
        self, behind: Callable[[], float] = lambda: 0.0, loop_lag: LoopLag | None = None,
        **settings: Any,
    ) -> Admission:  # fmt: skip
        """``behind`` stands for the runtime's oldest read-your-writes wait (0: none)."""
        app = Starlette(routes=[
            Route("/hold/{key}", self.hold), Route("/health/ready", self.health),
            Route("/wait/{key}", self.wait_on_purpose),
            Route("/boom", self.boom), Route("/late", self.late, methods=["POST"]),
        ])  # fmt: skip
        return Admission(app, settings=make_settings(settings.pop("data_dir"), **settings),
                         behind=behind, loop_lag=loop_lag)  # fmt: skip


def _client(app: Admission) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://api")


async def _all_entered(held: Held, count: int) -> None:
    while sum(held.entered.values()) < count:
        held.started.clear()
        await held.started.wait()


def _shed(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["success"] is False
    assert body["code"] == body["error"]["code"] == "OVERLOADED"


def _sheds(reason: str) -> float:
    return REGISTRY.get_sample_value("languagemate_http_requests_shed_total",
                                     {"reason": reason}) or 0.0  # fmt: skip


def test_exactly_the_requests_past_the_bound_are_shed_and_health_still_answers(
    tmp_path: Any,
) -> None:
    async def scenario() -> None:
        held = Held()
        app = held.asgi(data_dir=tmp_path, admission_max_in_flight=3, admission_max_queued=0)
        before = _sheds("queue_full")
        async with _client(app) as client:
            running = [asyncio.create_task(client.get(f"/hold/{i}")) for i in range(3)]
            await _all_entered(held, 3)
            excess = await asyncio.gather(*(client.get(f"/hold/x{i}") for i in range(2)))
            ready = await client.get("/health/ready")
            for i in range(3):
                held.release(str(i))
            served = await asyncio.gather(*running)
        for response in excess:
            _shed(response)
        assert ready.status_code == 200
        assert [r.status_code for r in served] == [200, 200, 200]
        assert set(held.entered) == {"0", "1", "2"}  # a shed request never reached a route
        assert _sheds("queue_full") - before == 2

    asyncio.run(scenario())


def test_nothing_is_shed_under_the_bound_and_failed_requests_give_their_place_back(
    tmp_path: Any,
) -> None:
    async def scenario() -> None:
        held = Held()
        app = held.asgi(data_dir=tmp_path, admission_max_in_flight=2, admission_max_queued=0)
        async with _client(app) as client:
            failed = [await client.get("/boom") for _ in range(5)]
            for i in range(2):
                held.release(str(i))
            served = await asyncio.gather(*(client.get(f"/hold/{i}") for i in range(2)))
        assert [r.status_code for r in failed] == [500] * 5
        assert [r.status_code for r in served] == [200, 200]

    asyncio.run(scenario())


def test_a_waiting_request_takes_the_place_a_finished_one_frees_and_the_queue_is_bounded(
    tmp_path: Any,
) -> None:
    async def scenario() -> None:
        held = Held()
        app = held.asgi(data_dir=tmp_path, admission_max_in_flight=1, admission_max_queued=1,
                        admission_queue_seconds=30)  # fmt: skip
        async with _client(app) as client:
            first = asyncio.create_task(client.get("/hold/first"))
            await _all_entered(held, 1)
            waiting = asyncio.create_task(client.get("/hold/waiting"))
            while not app.gate.waiters:
                await asyncio.sleep(0)
            beyond = await client.get("/hold/beyond")  # the queue is full: shed at once
            held.release("first")
            held.release("waiting")
            answers = await asyncio.gather(first, waiting)
        _shed(beyond)
        assert [r.json()["key"] for r in answers] == ["first", "waiting"]

    asyncio.run(scenario())


def test_a_request_that_waits_past_the_budget_is_shed(tmp_path: Any) -> None:
    async def scenario() -> None:
        held = Held()
        app = held.asgi(data_dir=tmp_path, admission_max_in_flight=1, admission_max_queued=4,
                        admission_queue_seconds=0.01)  # fmt: skip
        before = _sheds("queue_wait")
        async with _client(app) as client:
            first = asyncio.create_task(client.get("/hold/first"))
            await _all_entered(held, 1)
            late = await client.get("/hold/late")
            held.release("first")
            assert (await first).status_code == 200
        _shed(late)
        assert "late" not in held.entered
        assert _sheds("queue_wait") - before == 1
        assert app.gate.free == 1 and not app.gate.waiters

    asyncio.run(scenario())


def test_a_write_whose_read_model_was_late_is_a_success_marked_late(tmp_path: Any) -> None:
    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        held = Held()
        held.release("fresh")
        async with _client(held.asgi(data_dir=tmp_path)) as client:
            return await client.post("/late"), await client.get("/hold/fresh")

    late, fresh = asyncio.run(scenario())
    assert late.status_code == 200
    assert late.headers["x-read-your-writes"] == "late"
    assert "x-read-your-writes" not in fresh.headers


def test_a_full_process_sheds_writes_at_once_while_its_read_models_lag_and_reads_wait(
    tmp_path: Any,
) -> None:
    """Every place taken and a read-your-writes wait past the bound: a write is refused at
    once instead of queueing, a read queues as before; with a place free, writes run even
    while the read models lag (a projector that is merely stopped is no overload)."""
    held = Held()
    app = held.asgi(behind=lambda: 1.5, data_dir=tmp_path, admission_read_model_lag_seconds=1.0,
                    admission_max_in_flight=1, admission_max_queued=4,
                    admission_queue_seconds=5)  # fmt: skip
    held.release("read")

    async def scenario() -> list[httpx.Response]:
        async with _client(app) as client:
            busy = asyncio.create_task(client.get("/hold/busy"))
            await _all_entered(held, 1)
            write = await client.post("/late")
            read = asyncio.create_task(client.get("/hold/read"))
            while not app.gate.waiters:
                await asyncio.sleep(0)
            held.release("busy")
            answers = [write, await read, await busy]
            return [*answers, await client.post("/late")]

    before = _sheds("read_model_lag")
    write, read, busy, later = asyncio.run(scenario())
    _shed(write)
    assert (read.status_code, busy.status_code, later.status_code) == (200, 200, 200)
    assert _sheds("read_model_lag") - before == 1
    assert held.entered["late"] == 1  # the shed write never reached its route
    assert app.gate.free == app.gate.slots


def test_a_request_that_waits_on_purpose_gives_its_place_back_once(tmp_path: Any) -> None:
    async def scenario() -> tuple[list[int], int, int]:
        held = Held()
        app = held.asgi(data_dir=tmp_path, admission_max_in_flight=1, admission_max_queued=0)
        async with _client(app) as client:
            waiting = asyncio.create_task(client.get("/wait/result"))
            await _all_entered(held, 1)
            held.release("other")
            other = await client.get("/hold/other")  # served: the waiter's place was free
            during = app.gate.free
            held.release("result")
            answers = [(await waiting).status_code, other.status_code]
        return answers, during, app.gate.free

    answers, during, after = asyncio.run(scenario())
    assert answers == [200, 200]
    assert during == 1  # the place came back when ``other`` ended; the waiter holds none
    assert after == 1  # and the waiter's end did not hand back a second one


class Late(LoopLag):
    """A loop as late as the test says, without a timer."""

    def watch(self, busy: Callable[[], bool]) -> None:
        pass


def test_requests_are_shed_while_the_event_loop_runs_late_with_half_the_places_taken(
    tmp_path: Any,
) -> None:
    """A late loop refuses nothing while fewer than half the places are taken (a lone
    user is not the cause); with half taken it refuses at once, health still answers, and
    once the loop is on time again requests are served."""
    late = Late()
    late.seconds = 0.25
    held = Held()
    app = held.asgi(loop_lag=late, data_dir=tmp_path, admission_max_in_flight=2,
                    admission_loop_lag_seconds=0.1)  # fmt: skip
    held.release("read")

    async def scenario() -> list[httpx.Response]:
        async with _client(app) as client:
            alone = await client.get("/hold/read")
            assert alone.status_code == 200, alone.text  # one in flight: not the cause
            holding = asyncio.create_task(client.get("/hold/a"))
            await _all_entered(held, 2)
            during = [await client.get("/hold/read"), await client.get("/health/ready")]
            late.seconds = 0.05
            after = await client.get("/hold/read")
            held.release("a")
            return [*during, after, await holding]

    before = _sheds("loop_lag")
    shed, ready, served, held_one = asyncio.run(scenario())
    _shed(shed)
    assert [r.status_code for r in (ready, served, held_one)] == [200] * 3
    assert _sheds("loop_lag") - before == 1


def test_the_loop_counts_as_late_only_when_two_ticks_in_a_row_were_late() -> None:
    """A single late tick (a garbage collection, a neighbour's burst) sheds nothing; a loop
    late tick after tick does, and one tick on time ends it."""
    lag = LoopLag()
    lag.record(0.3)
    assert lag.seconds == 0.0
    lag.record(0.01)
    assert lag.seconds == 0.01
    lag.record(0.2)
    lag.record(0.25)
    assert lag.seconds == 0.2
    lag.record(0.0)
    assert lag.seconds == 0.0


def test_an_api_process_sheds_on_loop_lag_unless_told_otherwise(tmp_path: Any) -> None:
    assert make_settings(tmp_path).admission_loop_lag_seconds is None  # off: serve, tests
    api = make_settings(tmp_path).for_api_process()
    assert api.admission_loop_lag_seconds == API_PROCESS_LOOP_LAG_SECONDS > 0
    off = make_settings(tmp_path, admission_loop_lag_seconds=0).for_api_process()
    assert off.admission_loop_lag_seconds == 0


def test_the_loop_lag_is_how_late_a_blocked_loop_ran_its_timer_and_stops_when_idle() -> None:
    async def scenario() -> tuple[float, float, bool]:
        lag, busy = LoopLag(), [True]
        lag.watch(lambda: busy[0])
        await asyncio.sleep(0)  # the timer is set
        time.sleep(0.3)  # the loop runs nothing else meanwhile, as when starved of CPU
        while lag._last < 0.2:  # that tick ran late: one late tick is not a late loop
            await asyncio.sleep(0)
        assert lag.seconds < 0.2
        time.sleep(0.3)  # and starved again before the next tick
        while lag.seconds < 0.2:
            await asyncio.sleep(0.01)
        measured = lag.seconds
        busy[0] = False
        while lag._task is not None:
            await asyncio.sleep(0.01)
        return measured, lag.seconds, lag._task is None

    measured, after, stopped = asyncio.run(scenario())
    assert 0.2 <= measured < 5
    assert (after, stopped) == (0.0, True)


def test_a_place_handed_to_a_waiter_that_is_cancelled_goes_to_the_next_one() -> None:
    async def scenario() -> tuple[str | None, int, int]:
        gate = Gate(slots=1, queue_max=2)
        assert await gate.enter(0) is None
        gone = asyncio.create_task(gate.enter(30))
        after = asyncio.create_task(gate.enter(30))
        while len(gate.waiters) < 2:
            await asyncio.sleep(0)
        gate.leave()  # to ``gone``, which is cancelled before it can take it
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await after, gate.free, len(gate.waiters)

    assert asyncio.run(scenario()) == (None, 0, 0)

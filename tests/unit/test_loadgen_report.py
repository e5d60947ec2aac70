"""The load generator's report tells the server's sheds from errors (bench/loadgen.py):
a 503 ``OVERLOADED`` from api/admission.py is ``shed_by_server``, any other 503 an error,
and the generator's own ``shed`` (no idle user) stays apart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
import uvicorn
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.admission import overloaded
from api.envelope import error
from bench.loadgen import (
    Options,
    Population,
    Scenario,
    ShedByServer,
    Stats,
    StepFailed,
    User,
    _scrape,
)
from bench.loadgen import _summary as summary
from devservices.process import free_port


async def _answer(request: Request) -> JSONResponse:
    kind = request.path_params["kind"]
    if kind == "shed":
        return overloaded(None)
    if kind == "down":
        return error(503, "unavailable", "SERVICE_UNAVAILABLE", headers={"Retry-After": "2"})
    return JSONResponse({"success": True})


@contextlib.asynccontextmanager
async def _serving(app: Starlette) -> AsyncIterator[str]:
    """A real server on a free port, as loadgen meets one; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))  # fmt: skip
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


def _calls(kinds: list[str]) -> tuple[Stats, list[str]]:
    async def scenario() -> tuple[Stats, list[str]]:
        app = Starlette(routes=[Route("/answer/{kind}", _answer)])
        stats, outcomes = Stats(), []
        async with _serving(app) as base, aiohttp.ClientSession(base_url=base) as client:
            user = User(index=0, base=base, email="u@example.com", native=1, target=2)
            scenario = Scenario({base: client}, Population([user]), freshness_share=0,
                                level_test_share=0, max_level_tests=0, recording=None,
                                register_share=0)  # fmt: skip
            for kind in kinds:
                try:
                    await scenario.call(stats, user, "GET", "/answer/{kind}", f"/answer/{kind}")
                    outcomes.append("ok")
                except ShedByServer:
                    outcomes.append("shed")
                except StepFailed:
                    outcomes.append("failed")
        return stats, outcomes

    return asyncio.run(scenario())


def _metrics_app(registry: CollectorRegistry) -> Starlette:
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", metrics)])


def test_the_servers_sheds_and_waits_are_read_from_every_apis_metrics() -> None:
    """Two APIs, each with its own counts: the report sums sheds by reason, and gives the
    read-your-writes waits of the step alone (the second scrape minus the first)."""
    registries = [CollectorRegistry(), CollectorRegistry()]
    sheds = [Counter("languagemate_http_requests_shed", "", ["reason"], registry=r)
             for r in registries]  # fmt: skip
    waits = [
        Histogram(
            "languagemate_read_your_writes_wait_seconds",
            "",
            ["projection", "outcome"],
            buckets=(0.01, 0.1, 1.0),
            registry=r,
        )
        for r in registries
    ]
    sheds[0].labels("loop_lag").inc(3)
    sheds[1].labels("loop_lag").inc(2)
    sheds[1].labels("queue_wait").inc(1)
    waits[0].labels("chat", "applied").observe(5.0)  # before the step: left out

    async def scenario() -> tuple[dict[str, int], dict[str, dict[str, object]]]:
        async with (
            _serving(_metrics_app(registries[0])) as a,
            _serving(_metrics_app(registries[1])) as b,
            aiohttp.ClientSession(base_url=a) as c1,
            aiohttp.ClientSession(base_url=b) as c2,
        ):
            before = await _scrape({a: c1, b: c2})
            for _ in range(3):
                waits[0].labels("chat", "applied").observe(0.005)
            waits[1].labels("chat", "applied").observe(0.05)
            waits[1].labels("chat", "late").observe(2.0)
            waits[1].labels("matching", "applied").observe(0.05)
            after = await _scrape({a: c1, b: c2})
            return dict(after.sheds), after.waits_since(before)

    found_sheds, found_waits = asyncio.run(scenario())
    assert found_sheds == {"loop_lag": 5, "queue_wait": 1}
    # chat: 0.005 x3 (bucket <= 10 ms), 0.05 (<= 100 ms), 2.0 late (+Inf). The median's
    # rank, 2.5, falls in the first bucket: 2.5 / 3 of the way to 10 ms; the 95th's rank,
    # 4.75, in +Inf: the last finite bound.
    assert found_waits == {
        "chat": {"count": 5, "late": 1, "p50": 8.3, "p95": 1000.0},
        "matching": {"count": 1, "late": 0, "p50": 55.0, "p95": 95.5},
    }


def test_overloaded_answers_are_sheds_and_other_503s_stay_errors() -> None:
    stats, outcomes = _calls(["ok", "shed", "shed", "down"])
    stats.shed = 1  # one arrival found no idle user: the generator's own

    assert outcomes == ["ok", "shed", "shed", "failed"]
    step = {"target_rate": 1.0, "achieved_rate": 1.0, "arrival_seconds": 2.0}
    report = summary(stats, step, Options(rates=[1.0]))
    assert report["shed"] == 1
    assert report["shed_by_server"]["requests"] == 2
    assert report["shed_by_server"]["per_s"] == 1.0
    assert report["errors"] == 1  # the SERVICE_UNAVAILABLE only
    assert report["requests"] == 2  # served: the 200 and the 503 that was no shed
    endpoint = report["endpoints"]["GET /answer/{kind}"]
    assert {"count": 4, "shed": 2, "5xx": 1}.items() <= endpoint.items()
    assert not report["within_limits"]
    assert "2 requests shed by the server (503 OVERLOADED)" in report["why_not"]


@pytest.mark.parametrize("kinds", [["ok", "ok"], []])
def test_a_step_without_sheds_reports_none(kinds: list[str]) -> None:
    stats, _ = _calls(kinds)
    step = {"target_rate": 1.0, "achieved_rate": 1.0, "arrival_seconds": 2.0}
    report = summary(stats, step, Options(rates=[1.0]))
    assert report["shed_by_server"]["requests"] == 0
    assert report["within_limits"]

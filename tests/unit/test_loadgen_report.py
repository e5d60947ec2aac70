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
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
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
    _server_sheds,
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


def test_the_servers_sheds_are_read_by_reason_from_every_apis_metrics() -> None:
    """Two APIs, each with its own count: the report sums them by reason."""

    def metrics_app(sheds: dict[str, int]) -> Starlette:
        registry = CollectorRegistry()
        shed = Counter("languagemate_http_requests_shed", "shed", ["reason"], registry=registry)
        for reason, count in sheds.items():
            shed.labels(reason).inc(count)

        async def metrics(request: Request) -> Response:
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

        return Starlette(routes=[Route("/metrics", metrics)])

    async def scenario() -> dict[str, int]:
        one, two = metrics_app({"loop_lag": 3}), metrics_app({"loop_lag": 2, "queue_wait": 1})
        async with (
            _serving(one) as a,
            _serving(two) as b,
            aiohttp.ClientSession(base_url=a) as c1,
            aiohttp.ClientSession(base_url=b) as c2,
        ):
            return dict(await _server_sheds({a: c1, b: c2}))

    assert asyncio.run(scenario()) == {"loop_lag": 5, "queue_wait": 1}


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

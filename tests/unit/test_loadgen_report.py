"""The load generator's report tells the server's sheds from errors (bench/loadgen.py):
a 503 ``OVERLOADED`` from api/admission.py is ``shed_by_server``, any other 503 an error,
and the generator's own ``shed`` (no idle user) stays apart."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.admission import overloaded
from api.envelope import error
from bench.loadgen import Options, Population, Scenario, ShedByServer, Stats, StepFailed, User
from bench.loadgen import _summary as summary


async def _answer(request: Request) -> JSONResponse:
    kind = request.path_params["kind"]
    if kind == "shed":
        return overloaded(None)
    if kind == "down":
        return error(503, "unavailable", "SERVICE_UNAVAILABLE", headers={"Retry-After": "2"})
    return JSONResponse({"success": True})


def _calls(kinds: list[str]) -> tuple[Stats, list[str]]:
    async def scenario() -> tuple[Stats, list[str]]:
        app = Starlette(routes=[Route("/answer/{kind}", _answer)])
        with socket.socket() as probe:  # a free port for a real server, as loadgen meets one
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning"))  # fmt: skip
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{port}"
        stats, outcomes = Stats(), []
        async with aiohttp.ClientSession(base_url=base) as client:
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
        server.should_exit = True
        await serving
        return stats, outcomes

    return asyncio.run(scenario())


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

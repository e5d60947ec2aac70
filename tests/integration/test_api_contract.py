"""Every operation of the OpenAPI document, fuzzed by schemathesis as a signed-in learner.

What is checked, and why this set:

* ``not_a_server_error``: no input, valid or not, may cause a 5xx (an unhandled exception
  reaching the test client counts as one). The one exception is a 503 on an operation that
  documents one of its own (every route documents the generic "dependency unavailable"
  503, which nothing here should cause): the AI service and level-test routes answer
  "workers busy" when no worker takes the job in time, and this app runs none (their
  answers are tested in test_ai_service.py and test_level_test.py);
* ``status_code_conformance``: only documented statuses. The document lists the error
  answers every route can give (``api/openapi.py``), so this catches statuses that nothing
  explains (a 405, a 500, an unexpected redirect);
* ``content_type_conformance``: JSON where JSON is documented;
* ``response_schema_conformance``: bodies match their schema. Success bodies are the
  ``{success, data, meta}`` envelope around plain dicts, which the routes do not declare as
  models, so for 200s this is weak; for every refusal it holds the error envelope to its
  declared shape, including FastAPI's own 422s, which the app rewrites;
* afterwards, no read model recorded a poison event: an accepted request must not store
  an event its projections cannot apply (an id past 64 bits, say).

The caller is an onboarded learner (every onboarding step saved and completed); when an
operation ends that user's session (logout, password change, account deletion) the next
operation gets a fresh one, so one operation cannot turn the rest into 401s. Valid
(positive) and schema-violating (negative) inputs are both generated, a bounded number per
operation so the module takes a few minutes on two cores; ``pytest -s`` prints how many
cases ran.
Nothing is skipped: operations that wait for background workers (the AI service, level
test analysis) get short waits through settings, not an exclusion.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.blank_params import BLANK_MEANS_ABSENT
from api.openapi import UNAVAILABLE_DESCRIPTION
from app.runtime import Runtime
from devservices.settings import make_settings
from tests.support import onboarded_learner, wait_for

EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 3}
"""Cases per operation and mode; ``SCHEMATHESIS_SCALE=10`` multiplies them for a local hunt."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def contract_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The embedded app on SQLite, with waits for absent workers cut short (they answer
    503/202 as documented instead of holding each case for half a minute)."""
    data_dir = Path(tmp_path_factory.mktemp("contract")) / "var"
    rt = Runtime.build(make_settings(data_dir, ai_wait_seconds=0.2, level_test_wait_seconds=0.2))
    rt.start_projectors()
    rt.start_policies()
    try:
        with TestClient(create_app(rt)) as client:
            yield client
    finally:
        rt.close()


def _without_their_token(case: Any, headers: dict[str, str]) -> dict[str, str]:
    """The signed-in user's token in place of any Authorization value schemathesis made
    up from the documented header parameter (those are covered by the JWT tests)."""
    for name in [n for n in (case.headers or {}) if n.lower() == "authorization"]:
        del case.headers[name]
    return headers


class Caller:
    """The onboarded learner the cases run as, replaced once an operation signed them out."""

    def __init__(self, client: TestClient) -> None:
        self.client, self.made = client, 0
        self.headers = self._fresh()

    def _fresh(self) -> dict[str, str]:
        self.made += 1
        headers: dict[str, str] = onboarded_learner(self.client, f"Fuzz{self.made}")["headers"]
        return headers

    def still_signed_in(self) -> None:
        if self.client.get("/api/v1/users/name", headers=self.headers).status_code == 401:
            self.headers = self._fresh()


def _run_operation(operation: Any, mode: GenerationMode, caller: Caller) -> tuple[int, list[str]]:
    user = {"headers": caller.headers}
    ran, failures = 0, []

    @settings(
        max_examples=EXAMPLES[mode] * int(os.environ.get("SCHEMATHESIS_SCALE", "1")),
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal ran
        ran += 1
        headers = _without_their_token(case, user["headers"])
        try:
            response = case.call(headers=headers)
            checks = CHECKS
            busy = operation.definition.raw["responses"].get("503", {}).get("description")
            if response.status_code == 503 and busy not in (None, UNAVAILABLE_DESCRIPTION):
                checks = CHECKS[1:]  # the route's own "workers busy" answer, see above
            case.validate_response(response, checks=checks, headers=headers)
        except (Failure, FailureGroup) as failure:
            failures.append(f"{operation.label} [{mode}]: {failure}\n{case.as_curl_command()}")
        except Exception as crash:  # an unhandled server error surfaces here
            failures.append(f"{operation.label} [{mode}]: {crash!r}\n{case.as_curl_command()}")

    try:
        run()
    except Unsatisfiable:
        # Only in negative mode: an operation without parameters or body has no input
        # that could violate its schema.
        assert mode is GenerationMode.NEGATIVE, operation.label
    return ran, failures


def _settled(rt: Runtime, head: int) -> list[dict[str, Any]] | None:
    """The projections' status once each has applied ``head`` or is stuck on an error."""
    report = rt.read_models.status(head)
    return report if all(p["lag"] == 0 or p["error"] for p in report) else None


def test_no_operation_answers_outside_its_documented_contract(
    contract_client: TestClient,
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", contract_client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 150, "the document lost most of its operations"
    total, failures = 0, []
    caller = Caller(contract_client)
    for operation in operations:
        for mode in EXAMPLES:
            ran, found = _run_operation(operation, mode, caller)
            total += ran
            failures += found
            caller.still_signed_in()
    print(f"\nschemathesis: {total} cases over {len(operations)} operations as "
          f"{caller.made} users, {len(failures)} failures")  # fmt: skip
    assert not failures, "\n\n".join(failures[:20])
    rt: Runtime = contract_client.app.state.runtime  # type: ignore[attr-defined]
    head = rt.store.max_position()
    report = wait_for(lambda: _settled(rt, head), "the read models to catch up", timeout=120)
    poisoned = [(p["projection"], p["error"]) for p in report if p["error"]]
    assert poisoned == [], "an accepted request stored an event a read model cannot apply"


_PATH_VALUES = {"provider": "google", "room_id": "1", "test_id": "1", "version": "1"}
_VOLATILE = {"meta", "timestamp", "requestId", "generatedAt", "serverTime"}


def _comparable(response: Any) -> tuple[int, Any]:
    """Status and body, without what differs between two identical requests (the
    envelope's ``meta``, server clocks) and, for redirects, without the random values in
    the target's query (an OAuth ``state``, a PKCE challenge)."""
    if 300 <= response.status_code < 400:
        location = urlsplit(response.headers["location"])
        return response.status_code, (location.path, sorted(parse_qs(location.query)))
    if "json" not in response.headers.get("content-type", ""):
        return response.status_code, response.content

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in _VOLATILE}
        return [strip(v) for v in value] if isinstance(value, list) else value

    return response.status_code, strip(response.json())


def test_an_empty_optional_query_parameter_means_it_was_not_given(
    contract_client: TestClient,
) -> None:
    """The SPA keeps unset filters as "" and axios sends them
    (``/matching/partners?...&minAge=&maxAge=``): on every operation, ``name=`` must answer
    exactly as leaving ``name`` out, one parameter at a time and all at once, and the
    document must say so."""
    document = contract_client.get("/openapi.json").json()
    caller = Caller(contract_client)
    checked = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            optional = [p["name"] for p in operation.get("parameters", [])
                        if p["in"] == "query" and not p.get("required")]  # fmt: skip
            if not optional:
                continue
            assert all(
                BLANK_MEANS_ABSENT in p.get("description", "")
                for p in operation["parameters"] if p["name"] in optional
            ), (method, path)  # fmt: skip
            url = re.sub(r"\{(\w+)\}", lambda m: _PATH_VALUES.get(m.group(1), str(uuid4())), path)

            def call(query: str, url: str = url, method: str = method) -> Any:
                caller.still_signed_in()
                return contract_client.request(method.upper(), f"{url}?{query}".rstrip("?"),
                                               headers=caller.headers, json={},
                                               follow_redirects=False)  # fmt: skip

            omitted = _comparable(call(""))
            for query in [*(f"{name}=" for name in optional), "&".join(f"{n}=" for n in optional)]:
                assert _comparable(call(query)) == omitted, (method, path, query)
            checked.append((method, path))
    assert ("get", "/api/v1/matching/partners") in checked
    assert len(checked) >= 15, checked


def test_operation_ids_are_unique_and_refusals_are_documented(
    contract_client: TestClient,
) -> None:
    """Clients generated from the document key operations by id, and the checks above can
    only hold refusals to a shape the document gives them."""
    document = contract_client.get("/openapi.json").json()
    operations = [op for ops in document["paths"].values() for op in ops.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for op in operations:
        refusals = {code: r for code, r in op["responses"].items() if code.startswith("4")}
        assert {"404", "422"} <= set(refusals), op["operationId"]
        assert all(
            r["content"]["application/json"]["schema"] == envelope for r in refusals.values()
            if "content" in r
        ), op["operationId"]  # fmt: skip

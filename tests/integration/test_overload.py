"""The waits besides admission (api/admission.py) that an overloaded process bounds,
through the application: a read model later than the read-your-writes budget (the late
write is a success; in a full process, the writes after it are shed while it waits), and a
database pool with no connection to give; and a body that can never fit, refused 413 even
by a process that sheds everything else."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from api.app import create_app
from app.runtime import Runtime
from devservices.settings import make_settings
from infra.settings import Settings
from projections.identity import get_account
from tests.support import appended_by_requests, wait_for


def test_a_write_whose_read_model_is_late_is_stored_and_answered_marked_late(
    sqlite_settings: Settings, runtimes: Callable[..., Runtime]
) -> None:
    """The projectors are not running yet: the read model cannot catch up within the
    budget, yet the sign-in is a success (the SPA reads its tokens), and once the
    projectors run the account shows up."""
    settings = sqlite_settings.model_copy(update={"read_your_writes_timeout_seconds": 0.05})
    rt = runtimes(settings)
    head = rt.store.max_position()
    with TestClient(create_app(rt)) as client:
        response = client.post("/api/v1/auth/dev-login",
                               json={"email": "late@example.com", "name": "Late"})  # fmt: skip
        assert response.status_code == 200, response.text
        assert response.headers["x-read-your-writes"] == "late"
        user_id = response.json()["data"]["user"]["id"]
        assert "identity.AccountRegistered" in appended_by_requests(rt.store, head)

        rt.start_projectors()
        wait_for(lambda: get_account(rt.read_models, user_id), "the account in its read model")
        again = client.post("/api/v1/auth/dev-login",
                            json={"email": "late@example.com", "name": "Late"})  # fmt: skip
        assert again.status_code == 200
        assert "x-read-your-writes" not in again.headers


SHED = "languagemate_http_requests_shed_total"


def test_a_full_process_sheds_writes_while_a_write_waits_past_the_lag_bound(
    sqlite_settings: Settings, runtimes: Callable[..., Runtime]
) -> None:
    """The projectors are not running and the process has one place: the first sign-in
    holds it, waiting for its read model. Once it has waited past the bound, the next
    sign-in is refused at once (not after its queue wait) and stores nothing; when the
    projectors run, the first is answered on time and the refused one goes through when
    sent again."""
    settings = sqlite_settings.model_copy(update={
        "read_your_writes_timeout_seconds": 60.0, "admission_read_model_lag_seconds": 0.2,
        "admission_max_in_flight": 1, "admission_queue_seconds": 30.0,
    })  # fmt: skip
    rt = runtimes(settings)
    head = rt.store.max_position()
    answers: list[Any] = []
    with TestClient(create_app(rt)) as client:
        post = partial(client.post, "/api/v1/auth/dev-login")

        def sign_in(email: str) -> Any:
            return post(json={"email": email, "name": "Lag"})

        first = threading.Thread(target=lambda: answers.append(sign_in("first@example.com")))
        first.start()
        wait_for(lambda: rt.read_models_behind() > 0.2, "the first sign-in waiting past the bound")
        before = REGISTRY.get_sample_value(SHED, {"reason": "read_model_lag"}) or 0.0
        refused = sign_in("second@example.com")
        shed = (REGISTRY.get_sample_value(SHED, {"reason": "read_model_lag"}) or 0.0) - before
        registered = appended_by_requests(rt.store, head).count("identity.AccountRegistered")
        rt.start_projectors()
        first.join(timeout=60)
        wait_for(lambda: rt.read_models_behind() == 0.0, "no write waiting")
        retried = sign_in("second@example.com")

    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "OVERLOADED"
    assert refused.headers["retry-after"] == "1"
    assert shed == 1  # refused for the lag, at once, not after its 30 s wait for a place
    assert registered == 1  # the first sign-in's account only
    assert [a.status_code for a in answers] == [200]
    assert "x-read-your-writes" not in answers[0].headers  # answered once its model caught up
    assert retried.status_code == 200, retried.text


def test_a_full_database_pool_is_a_shed_not_an_error(
    tmp_path: object, postgres_url: str, runtimes: Callable[..., Runtime]
) -> None:
    """Every read-model connection is taken (by this test, standing in for requests that
    hold them): a read answers 503 ``OVERLOADED`` with ``Retry-After`` once its pool wait
    runs out, and is served again as soon as a connection is free."""
    settings = make_settings(tmp_path / "var", database_url=postgres_url,  # type: ignore[operator]
                             db_pool_size=1, db_pool_timeout_seconds=0.1,
                             read_your_writes_timeout_seconds=0.05)  # fmt: skip
    rt = runtimes(settings)
    # Unexpected exceptions are answered by Starlette's outermost middleware, which then
    # re-raises them for the server to log; the test client would raise them here.
    with TestClient(create_app(rt), raise_server_exceptions=False) as client:
        signed_in = client.post("/api/v1/auth/dev-login",
                                json={"email": "pool@example.com", "name": "Pool"})  # fmt: skip
        headers = {"Authorization": f"Bearer {signed_in.json()['data']['accessToken']}"}
        held = [rt.read_models.engine.connect() for _ in range(2)]  # the whole pool
        try:
            refused = client.get("/api/v1/users/info", headers=headers)
        finally:
            for connection in held:
                connection.close()
        served = client.get("/api/v1/users/info", headers=headers)

    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "OVERLOADED"
    assert refused.headers["retry-after"] == "1"
    assert served.status_code != 503, served.text


def test_a_declared_length_past_the_limit_is_refused_413_even_while_the_process_sheds(
    sqlite_settings: Settings, runtimes: Callable[..., Runtime]
) -> None:
    """The only place is held by a sign-in waiting for its read model and nobody may
    queue: a small sign-in is shed, but a body declared past the limit is answered 413
    (send it again and it still cannot fit), before admission and without being read."""
    settings = sqlite_settings.model_copy(update={
        "read_your_writes_timeout_seconds": 60.0, "admission_max_in_flight": 1,
        "admission_max_queued": 0,
    })  # fmt: skip
    rt = runtimes(settings)
    answers: list[Any] = []
    with TestClient(create_app(rt)) as client:

        def sign_in(email: str) -> Any:
            return client.post("/api/v1/auth/dev-login", json={"email": email, "name": "Big"})

        first = threading.Thread(target=lambda: answers.append(sign_in("first@example.com")))
        first.start()
        wait_for(lambda: rt.read_models_behind() > 0, "the first sign-in holding the place")
        too_large = b" " * (settings.max_body_bytes + 1)
        oversized = client.post("/api/v1/auth/dev-login", content=too_large,
                                headers={"Content-Type": "application/json"})  # fmt: skip
        shed = sign_in("second@example.com")
        rt.start_projectors()
        first.join(timeout=60)

    assert oversized.status_code == 413, oversized.text
    assert oversized.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert shed.status_code == 503, shed.text
    assert shed.json()["code"] == "OVERLOADED"
    assert [a.status_code for a in answers] == [200]

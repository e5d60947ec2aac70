"""History as a product: export and re-import reproduce the read models exactly, the audit
chain names a tampered or removed event by position, time travel shows an aggregate as it
was, and only admins reach the admin routes."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import devservices as services
from app.audit import trail, verify
from app.history import ImportRefused, Selection, export, import_lines, selected
from app.runtime import Runtime
from commands.base import CommandContext
from commands.identity import set_role
from devservices.settings import make_settings
from eventflow.store import EVENTS_TABLE
from tests.support import read_model_rows, settled, signed_in_learner


def _rt(client: TestClient) -> Runtime:
    return client.app.state.runtime  # type: ignore[attr-defined,no-any-return]


def _seed(client: TestClient) -> list[dict[str, Any]]:
    mina = signed_in_learner(client, "Mina", native=1, target=2)
    jun = signed_in_learner(client, "Jun", native=2, target=1)
    request_id = client.post("/api/v1/matching/request", json={"targetUserId": jun["id"]},
                             headers=mina["headers"]).json()["data"]["requestId"]  # fmt: skip
    accepted = client.post(f"/api/v1/matching/accept/{request_id}", json={}, headers=jun["headers"])
    assert accepted.status_code == 200, accepted.text
    bio = {"selfBio": "Hello from Busan, I love hiking."}
    assert client.post("/api/v1/users/self-bio", json=bio,
                       headers=mina["headers"]).status_code == 200  # fmt: skip
    return [mina, jun]


@pytest.fixture
def copy_settings(
    request: pytest.FixtureRequest, tmp_path: Path, client: TestClient
) -> Iterator[Any]:
    """Settings for an empty store of the same kind as the client's, reading the client's
    key store (so the imported personal fields decrypt as in the original)."""
    source = _rt(client).settings
    if not source.database_url:
        yield make_settings(tmp_path / "copy", keystore_database_url=(
            f"sqlite:///{source.data_dir / 'keys.sqlite3'}"))  # fmt: skip
        return
    admin = services.postgres_admin_url()
    name = f"lm_t_copy_{abs(hash(request.node.nodeid)) % 10**8}"
    url = services.create_database(admin, name)
    try:
        yield make_settings(tmp_path / "copy", database_url=url,
                            keystore_database_url=source.database_url)  # fmt: skip
    finally:
        services.drop_database(admin, name)


def test_export_then_import_into_a_fresh_store_reproduces_the_read_models(
    client: TestClient, copy_settings: Any, runtimes: Callable[..., Runtime]
) -> None:
    original = _rt(client)
    _seed(client)
    head = settled(original)
    dump = io.BytesIO()
    assert export(selected(original.store, Selection()), dump) == len(
        list(original.store.read_all())
    )
    copy = runtimes(copy_settings, policies=[])
    assert import_lines(copy.store, io.BytesIO(dump.getvalue())) > 0
    assert copy.store.max_position() == head
    copy.start_projectors(kafka=False)
    settled(copy)
    assert read_model_rows(copy) == read_model_rows(original)
    with pytest.raises(ImportRefused, match="not empty"):
        import_lines(copy.store, io.BytesIO(dump.getvalue()))
    # Personal fields left encrypted in the export: the bio is not there in clear.
    assert b"Hello from Busan" not in dump.getvalue() and b"pii:v1:" in dump.getvalue()


def _tamper(rt: Runtime, sql: dict[str, list[str]]) -> None:
    datastore: Any = rt.store.recorder.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=True) as cursor:
        for statement in sql["postgres" if rt.store.postgres else "sqlite"]:
            cursor.execute(statement)


def test_audit_verify_names_an_altered_and_a_removed_event(client: TestClient) -> None:
    rt = _rt(client)
    _seed(client)
    settled(rt)
    clean = verify(rt.store, rt.read_models)
    assert clean.ok and clean.checked == rt.store.max_position() and clean.unsealed == 0
    altered, removed = 5, 9
    _tamper(rt, {
        "postgres": [
            f"ALTER TABLE {EVENTS_TABLE} DISABLE TRIGGER {EVENTS_TABLE}_no_update_delete",
            f"UPDATE {EVENTS_TABLE} SET state = state || '\\x20'::bytea"
            f" WHERE notification_id = {altered}",
            f"DELETE FROM {EVENTS_TABLE} WHERE notification_id = {removed}",
            f"ALTER TABLE {EVENTS_TABLE} ENABLE TRIGGER {EVENTS_TABLE}_no_update_delete",
        ],
        "sqlite": [
            f"DROP TRIGGER {EVENTS_TABLE}_no_update",
            f"DROP TRIGGER {EVENTS_TABLE}_no_delete",
            f"UPDATE {EVENTS_TABLE} SET state = CAST(state || x'20' AS BLOB)"
            f" WHERE rowid = {altered}",
            f"DELETE FROM {EVENTS_TABLE} WHERE rowid = {removed}",
        ],
    })  # fmt: skip
    report = verify(rt.store, rt.read_models).report()
    assert not report["ok"]
    assert [(f["position"], f["kind"]) for f in report["findings"]] == [
        (altered, "altered"), (removed, "removed")]  # fmt: skip


def test_the_trail_lists_what_a_user_did_and_what_was_done_to_them(client: TestClient) -> None:
    rt = _rt(client)
    mina, jun = _seed(client)
    settled(rt)
    rows = list(trail(rt.store, jun["id"]))
    by = {r["topic"] for r in rows if r["relation"] == "by"}
    about = {r["topic"] for r in rows if r["relation"] == "about"}
    assert {"matching.MatchRequestAccepted", "profiles.TargetLanguagesSet"} <= by
    assert {"identity.AccountRegistered", "matching.MatchRequested"} <= about  # Mina asked Jun
    assert [r["position"] for r in rows] == sorted(r["position"] for r in rows)
    assert all(set(r) == {"position", "at", "topic", "actor", "relation", "correlation_id",
                          "causation_id"} for r in rows)  # fmt: skip
    assert not any(r["actor"] == mina["id"] and r["relation"] == "by" for r in rows)


def test_time_travel_shows_an_aggregate_as_it_was_and_only_to_admins(client: TestClient) -> None:
    rt = _rt(client)
    mina = signed_in_learner(client, "Mina")
    boss = signed_in_learner(client, "Boss")
    url = f"/api/v1/admin/aggregates/{mina['id']}"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=boss["headers"]).status_code == 403
    set_role(rt.bus, CommandContext(actor_id="operator:test"), pepper=rt.pepper,
             email="boss@example.com", role="admin", granted=True)  # fmt: skip
    deadline = time.monotonic() + 20
    while (now := client.get(url, headers=boss["headers"])).status_code == 403:
        assert time.monotonic() < deadline, "the admin role never reached the read model"
        time.sleep(0.05)
    state = now.json()["data"]
    assert state["type"] == "Account" and state["state"]["email"] == "mina@example.com"
    first = client.get(url, params={"version": 1}, headers=boss["headers"]).json()["data"]
    assert first["version"] == 1 and first["latest_version"] == state["version"] > 1
    assert all(v == "[secret]" or not v for k, v in state["state"].items() if "secret" in k)
    before = client.get(url, params={"at": "2000-01-01T00:00:00Z"}, headers=boss["headers"])
    assert before.json()["data"]["version"] == 0 and before.json()["data"]["state"] is None
    missing = client.get("/api/v1/admin/aggregates/00000000-0000-0000-0000-000000000001",
                         headers=boss["headers"])  # fmt: skip
    assert missing.status_code == 404


def test_every_admin_route_refuses_non_admins(client: TestClient) -> None:
    user = signed_in_learner(client, "Plain")
    paths = client.get("/openapi.json").json()["paths"]
    admin = {p: ops for p, ops in paths.items() if p.startswith("/api/v1/admin")}
    assert admin
    for template, operations in admin.items():
        path = template.replace("{aggregate_id}", user["id"])
        for method in operations:
            response = client.request(method, path, headers=user["headers"])
            assert response.status_code == 403, (method, path, response.text)
            assert client.request(method, path).status_code == 401

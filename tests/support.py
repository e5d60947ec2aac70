"""Test-only domain: a counter aggregate and a projection that would double-count on a
double apply, so exactly-once claims are checked by arithmetic, not by trusting the engine."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from api.stomp import SERVER_COMMANDS, Frame, FrameParser
from app.runtime import Runtime
from commands.base import CommandBus, CommandContext, Outcome, UnitOfWork
from domain.aggregate import Aggregate, Cause, applies
from domain.events import DomainEvent
from eventflow.buffer import ProjectionTx
from eventflow.projection import Projection
from eventflow.readmodels import ReadModels
from eventflow.runner import GroupRunner
from eventflow.sources import EventSource
from projections.catalog import PROJECTIONS

T = TypeVar("T")


class Incremented(DomainEvent):
    topic = "test.Incremented"

    by: int = 1
    poison: bool = False


class Counter(Aggregate):
    value: int = 0

    def increment(self, cause: Cause, by: int = 1, *, poison: bool = False) -> None:
        self._record(Incremented, cause, by=by, poison=poison)

    @applies(Incremented)
    def _incremented(self, event: Incremented) -> None:
        self.value += event.by


def increment(
    bus: CommandBus,
    ctx: CommandContext,
    counter_id: UUID,
    by: int = 1,
    *,
    poison: bool = False,
    times: int = 1,
) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        counter = uow.load(Counter, counter_id, check_expected=True)
        for _ in range(times):
            counter.increment(uow.cause, by, poison=poison)
        return {"counter": str(counter_id), "value": counter.value}

    return bus.run("test.Increment", ctx, decide)


def create_counter(
    bus: CommandBus, ctx: CommandContext, counter_id: UUID, times: int = 1
) -> Outcome:
    """A creation command: a new counter with ``times`` increments (no read of the store)."""

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        counter = uow.create(Counter, counter_id)
        for _ in range(times):
            counter.increment(uow.cause)
        return {"counter": str(counter_id)}

    return bus.run("test.CreateCounter", ctx, decide)


class PoisonSwitch:
    """Lets a test decide whether poison events fail (to simulate a fix being deployed)."""

    armed = True


def make_counters_projection(name: str = "counters", *, poisoned: bool = True) -> Projection:
    """Counters by aggregate; ``poisoned``: fails on poison events while the switch is armed."""
    projection = Projection(name)
    base = name  # each projection its own table (they all count the same events)

    @projection.tables
    def _tables(metadata: sa.MetaData, table_name: Callable[[str], str]) -> None:
        sa.Table(
            table_name(base),
            metadata,
            sa.Column("counter_id", sa.String(36), primary_key=True),
            sa.Column("value", sa.Integer, nullable=False),
            sa.Column("events", sa.Integer, nullable=False),
        )

    @projection.on(Incremented)
    def _incremented(event: Incremented, tx: ProjectionTx) -> None:
        if event.poison and poisoned and PoisonSwitch.armed:
            raise ValueError("poison event")
        table = tx.table(base)
        updated = tx.execute(
            table.update()
            .where(table.c.counter_id == str(event.aggregate_id))
            .values(value=table.c.value + event.by, events=table.c.events + 1)
        ).rowcount
        if not updated:
            tx.insert(base, {"counter_id": str(event.aggregate_id), "value": event.by, "events": 1})

    return projection


def counter_values(read_models: ReadModels, projection: Projection) -> dict[str, tuple[int, int]]:
    table = read_models.table(projection, projection.name)
    with read_models.engine.connect() as conn:
        return {r.counter_id: (r.value, r.events) for r in conn.execute(sa.select(table))}


ONBOARDING_WRITES: list[tuple[str, dict[str, Any]]] = [
    (
        "/api/v1/onboarding/steps/1/save",
        {
            "stepNumber": 1,
            "stepData": {"englishName": "Mina", "residence": "", "profileImage": None, "intro": ""},
        },
    ),
    ("/api/v1/users/location", {"locationId": 1}),
    ("/api/v1/users/self-bio", {"selfBio": "I love hiking and K-dramas."}),
    ("/api/v1/onboarding/language/native-language", {"languageId": 1}),
    (
        "/api/v1/onboarding/language/language-level",
        {"languages": [{"languageId": 2, "currentLevelId": 102, "targetLevelId": 102}]},
    ),
    (
        "/api/v1/onboarding/language/language-level",
        {"languages": [{"languageId": 2, "currentLevelId": 201, "targetLevelId": 202}]},
    ),
    ("/api/v1/onboarding/interest/motivation", {"motivationIds": [1, 3]}),
    ("/api/v1/onboarding/interest/topic", {"topicIds": [2, 4, 5]}),
    ("/api/v1/onboarding/interest/learning-style", {"learningStyleIds": [1]}),
    ("/api/v1/onboarding/interest/learning-expectation", {"learningExpectationIds": [2]}),
    ("/api/v1/onboarding/partner/gender", {"partnerGenderType": "ANY"}),
    (
        "/api/v1/onboarding/partner/personality",
        {"personalPartnerIds": [{"partnerPersonalityId": 1}, {"partnerPersonalityId": 3}]},
    ),
    ("/api/v1/onboarding/schedule/communication-method", {"communicationMethodType": "VIDEO"}),
    ("/api/v1/onboarding/schedule/group-size", {"groupSizeIds": [1, 2]}),
    ("/api/v1/onboarding/schedule/daily-minute", {"dailyMinutesType": "MINUTES_30"}),
    (
        "/api/v1/onboarding/schedule",
        {
            "schedules": [
                {"dayOfWeek": "MONDAY", "classTime": "19:00"},
                {"dayOfWeek": "SATURDAY", "classTime": "10:00"},
            ]
        },
    ),
]
"""Every onboarding step the SPA saves, in its order, with answers that complete it."""


def signed_in_learner(
    client: TestClient,
    name: str,
    *,
    native: int = 1,
    target: int = 2,
    year: str = "1995",
    gender: str = "FEMALE",
) -> dict[str, Any]:
    """A dev-login user with a native and a target language, topics, age and gender:
    ``{"id", "headers"}``."""
    data = client.post(
        "/api/v1/auth/dev-login", json={"email": f"{name.lower()}@example.com", "name": name}
    ).json()["data"]
    headers = {"Authorization": f"Bearer {data['accessToken']}"}
    for path, body in (
        ("/api/v1/onboarding/language/native-language", {"languageId": native}),
        (
            "/api/v1/onboarding/language/language-level",
            {"languages": [{"languageId": target, "currentLevelId": 102, "targetLevelId": 104}]},
        ),
        ("/api/v1/onboarding/interest/topic", {"topicIds": [1, 2, 3]}),
        ("/api/v1/users/birthyear", {"birthyear": year}),
        ("/api/v1/users/gender", {"genderType": gender}),
    ):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 200, (path, response.text)
    return {"id": data["user"]["id"], "headers": headers}


def appended_by_requests(store: Any, after: int) -> list[str]:
    """Topics stored after position ``after`` by anything but a background policy or job.

    Policies react to earlier events at their own pace (a notification for a match request
    may land at any moment), so "this refused request appended nothing" is checked on the
    events whose actor is not a policy."""
    return [
        record.topic
        for record in store.read_all(after)
        if not (record.decode().meta.actor_id or "").startswith(("policy.", "worker."))
    ]


def settled(rt: Runtime, timeout: float = 60) -> int:
    """Wait until every projection has applied the whole log and the policies are quiet."""
    partitions = rt.settings.kafka_partitions if rt.uses_kafka else None
    deadline, head = time.monotonic() + timeout, -1
    while True:
        current = rt.store.max_position()
        done = all(
            rt.read_models.applied_everywhere(p.name, None if p.ordered else partitions) >= current
            for p in PROJECTIONS
        )
        if done and current == head:
            return current
        head = current
        assert time.monotonic() < deadline, "the read models never caught up"
        time.sleep(0.3)


def read_model_rows(rt: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every projection's active tables, sorted: two stores whose read models
    are equal give equal results."""
    out = {}
    with rt.read_models.engine.connect() as conn:
        for projection in PROJECTIONS:
            version = rt.read_models.active_version(projection.name, fresh=True)
            for base in projection.tables_for(version):
                table = rt.read_models.table(projection, base)
                rows = conn.execute(sa.select(table)).all()
                out[f"{projection.name}.{base}"] = sorted((tuple(r) for r in rows), key=repr)
    return out


def token_of(user: dict[str, Any]) -> str:
    """The bearer token of a :func:`signed_in_learner`."""
    return str(user["headers"]["Authorization"].split(" ", 1)[1])


def matched_learners(
    client: TestClient, *, accept: bool = True
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Mina (Korean, learning English) and Jun (English, learning Korean), and Mina's match
    request to Jun, accepted unless ``accept`` is false: ``(mina, jun, request_id)``."""
    mina = signed_in_learner(client, "Mina", native=1, target=2)
    jun = signed_in_learner(client, "Jun", native=2, target=1)
    request_id = client.post("/api/v1/matching/request", json={"targetUserId": jun["id"]},
                             headers=mina["headers"]).json()["data"]["requestId"]  # fmt: skip
    if accept:
        accepted = client.post(f"/api/v1/matching/accept/{request_id}", json={},
                               headers=jun["headers"])  # fmt: skip
        assert accepted.status_code == 200, accepted.text
    return mina, jun, str(request_id)


def _held_message_ids(client: Any, queue: str) -> list[bytes]:
    # Dramatiq's Redis broker keeps each worker's taken, unacknowledged message ids in a set
    # of its own until the job ends or is handed back.
    keys = client.keys(f"languagemate:__acks__.*.{queue}")
    return [message_id for key in keys for message_id in client.smembers(key)]


def held_jobs(client: Any, queue: str) -> int:
    """Jobs of ``queue`` that some worker has taken from Redis and not yet acknowledged."""
    return len(_held_message_ids(client, queue))


def held_job_args(client: Any, queue: str) -> list[list[Any]]:
    """The arguments of the jobs :func:`held_jobs` counts (those still stored)."""
    ids = _held_message_ids(client, queue)
    bodies = client.hmget(f"languagemate:{queue}.msgs", ids) if ids else []
    return [json.loads(body)["args"] for body in bodies if body is not None]


def wait_for(probe: Callable[[], T], what: str, timeout: float = 15) -> T:
    """The first truthy answer of ``probe``: policies and projections run in the background."""
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return found


class StompClient:
    """A minimal STOMP client over the test WebSocket."""

    def __init__(self, ws: WebSocketTestSession) -> None:
        self.ws, self.parser = ws, FrameParser(commands=SERVER_COMMANDS)
        self.pending: list[Frame] = []

    def send(self, command: str, headers: dict[str, str], body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.ws.send_text(Frame(command, headers, data).encode().decode())

    def next(self) -> Frame:
        """The next frame from the server, heart-beats skipped."""
        while not self.pending:
            self.pending += [
                f for f in self.parser.feed(self.ws.receive_text()) if f.command != "HEARTBEAT"
            ]
        return self.pending.pop(0)

    def connect(self, token: str | None) -> Frame:
        """CONNECT (with the token, if any) and the server's answer."""
        headers = {"accept-version": "1.2,1.1,1.0", "heart-beat": "10000,10000"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.send("CONNECT", headers)
        return self.next()


def stomp_connect(ws: WebSocketTestSession, token: str | None) -> Frame:
    """CONNECT on a fresh socket; the answer (CONNECTED or ERROR)."""
    return StompClient(ws).connect(token)


def onboarded_learner(client: TestClient, name: str) -> dict[str, Any]:
    """A dev-login user who went through every onboarding step and completed onboarding:
    ``{"id", "headers"}``."""
    data = client.post(
        "/api/v1/auth/dev-login", json={"email": f"{name.lower()}@example.com", "name": name}
    ).json()["data"]
    headers = {"Authorization": f"Bearer {data['accessToken']}"}
    for path, body in ONBOARDING_WRITES:
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 200, (path, response.text)
    done = client.post(
        "/api/v1/users/complete-onboarding", json={"allStepsCompleted": True}, headers=headers
    )
    assert done.status_code == 200, done.text
    return {"id": data["user"]["id"], "headers": headers}


def follow(rt: Runtime, projection: Projection, *, kafka: bool) -> tuple[GroupRunner, EventSource]:
    """A runner of ``projection`` alone (a group of one) and a source from where it stands,
    to drive step by step."""
    group = rt.projection_groups([projection.name])[0]
    runner = rt.runner(group, kafka=kafka)
    return runner, (rt.kafka_source if kafka else rt.log_source)(group, group.start())


def in_thread(work: Callable[[], T]) -> T:
    """``work()`` in a new thread (not the main one), its result here."""
    result: list[T] = []
    thread = threading.Thread(target=lambda: result.append(work()))
    thread.start()
    thread.join(30)
    return result[0]


def blas_counts() -> set[int]:
    """The thread counts of numpy's BLAS libraries, as threadpoolctl reads them."""
    from threadpoolctl import threadpool_info

    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


@contextmanager
def blas_count_set_by_a_job(count: int) -> Iterator[None]:
    """numpy's BLAS on ``count`` threads for the block, set and restored from another
    thread than the main one, as a worker's job would (a count the main thread set and
    left would make OpenBLAS ignore what other threads set: workers/blas.py)."""
    from threadpoolctl import threadpool_limits

    original = in_thread(lambda: threadpool_limits(limits=count, user_api="blas"))
    try:
        yield
    finally:
        in_thread(original.restore_original_limits)

"""Shared pytest fixtures.

The first block starts real services (see devservices/); application fixtures go below it.
"""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import settings as hypothesis_settings

import devservices as services
from devservices import MotoS3, RedisServer, ServiceError, Tansu
from devservices.settings import make_settings

pytest_plugins = ["tests.scenarios"]  # the given/when/then fixture of command tests

# Tests must never reach the Hugging Face Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Property-based tests: a bounded number of examples keeps CI quick on two cores, and no
# deadline because a shared CI machine makes per-example timing meaningless.
# HYPOTHESIS_PROFILE=thorough runs ten times more for a local hunt.
hypothesis_settings.register_profile("languagemate", max_examples=150, deadline=None)
hypothesis_settings.register_profile("thorough", max_examples=1500, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "languagemate"))

# ======================================================================================
# Service fixtures (real Kafka API, S3, PostgreSQL, Redis on loopback). Keep this block
# self-contained; a service that cannot start fails the test with a message, never skips.
# ======================================================================================


def pytest_configure(config: pytest.Config) -> None:
    """kafka-python 3 calls deprecated importlib.resources APIs: 200+ warnings hide real ones."""
    config.addinivalue_line(
        "filterwarnings", r"ignore:.*is deprecated. Use files\(\) instead:DeprecationWarning"
    )


def _fail(exc: Exception, what: str) -> NoReturn:
    """Turn a start-up error into a readable test failure instead of a deep traceback."""
    pytest.fail(f"{what} could not be started: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tansu]:
    """The session's Kafka-protocol broker (memory storage); fault tests may ``restart()`` it."""
    log = Path(tmp_path_factory.mktemp("tansu")) / "tansu.log"
    broker = Tansu(log_path=log)
    try:
        broker.start()
    except ServiceError as exc:
        _fail(exc, "Tansu (Kafka API)")
    yield broker
    broker.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(tansu: Tansu) -> str:
    """``host:port`` for ``bootstrap_servers``."""
    return tansu.bootstrap


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """``unique_name("orders") -> "orders-<10 hex>"``: the broker outlives every test."""
    return services.unique_name


@pytest.fixture(scope="session")
def kafka_topic_factory(tansu: Tansu) -> Callable[..., str]:
    """Create a uniquely named topic explicitly (auto-create would give it 4 partitions)."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    def create(prefix: str = "t", partitions: int = 1) -> str:
        name = services.unique_name(prefix)
        # A fresh client per call keeps this working after tansu.restart().
        admin = KafkaAdminClient(bootstrap_servers=tansu.bootstrap, request_timeout_ms=10000)
        try:
            admin.create_topics([NewTopic(name, partitions, 1)])
        finally:
            admin.close()
        return name

    return create


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Endpoint URL of an in-process moto S3 server (credentials: test/test, us-east-1)."""
    try:
        server = MotoS3().start()
    except ServiceError as exc:
        _fail(exc, "moto S3")
    yield server.endpoint
    server.stop()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """Superuser URL: TEST_POSTGRES_URL, else local 5432, else a throwaway cluster."""
    try:
        return services.postgres_admin_url()
    except ServiceError as exc:
        _fail(exc, "PostgreSQL")


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh empty database (``lm_t_<8 hex>``) for one test, force-dropped afterwards."""
    name = f"lm_t_{uuid.uuid4().hex[:8]}"
    url = services.create_database(postgres_admin_url, name)
    yield url
    services.drop_database(postgres_admin_url, name)


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """A Redis server for this session (db 0 URL).

    A private redis-server is preferred because other pytest sessions on this machine may
    FLUSHDB the shared 6379 one; the shared server is the fallback when the binary is missing.
    """
    if os.environ.get("TEST_REDIS_URL") or not RedisServer.available():
        try:
            url = services.redis_server_url()
        except ServiceError as exc:
            _fail(exc, "Redis")
        yield url
        return
    try:
        server = RedisServer().start()
    except ServiceError as exc:
        _fail(exc, "redis-server")
    yield server.url()
    server.stop()


_redis_dbs = itertools.cycle(range(1, 16))
_redis_dbs_lock = threading.Lock()


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """URL of a flushed logical database (1..15 in rotation; db 0 is left alone)."""
    import redis

    with _redis_dbs_lock:
        db = next(_redis_dbs)
    url = services.redis_db_url(redis_server_url, db)
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


# ======================================================================================
# End of service fixtures. Application fixtures below.
# ======================================================================================


# ======================================================================================
# Application fixtures: settings and runtimes for the embedded and distributed modes.
# ======================================================================================

from app.runtime import Runtime  # noqa: E402
from eventflow.store import EventStore, open_event_store  # noqa: E402
from infra.settings import Settings  # noqa: E402


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "var")


@pytest.fixture
def pg_settings(tmp_path: Path, postgres_url: str) -> Settings:
    return make_settings(tmp_path / "var", database_url=postgres_url)


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest) -> Settings:
    """The embedded (SQLite) and the distributed (PostgreSQL) store's settings: a test that
    takes them runs against both (a module may define its own ``settings`` instead)."""
    name = "sqlite_settings" if request.param == "sqlite" else "pg_settings"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
def store(settings: Settings) -> Iterator[EventStore]:
    """An event store on ``settings``, closed after the test."""
    opened = open_event_store(settings)
    yield opened
    opened.close()


@pytest.fixture
def runtimes() -> Iterator[Callable[..., Runtime]]:
    """Build runtimes that are closed (threads stopped, pools disposed) after the test."""
    built: list[Runtime] = []

    def build(settings: Settings, **kwargs: object) -> Runtime:
        rt = Runtime.build(settings, **kwargs)  # type: ignore[arg-type]
        built.append(rt)
        return rt

    yield build
    for rt in reversed(built):
        rt.close()


@pytest.fixture
def spans() -> Iterator[object]:
    """Every span this process records during the test, kept in memory (the SDK's
    in-memory exporter; spans are exported as each ends)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from infra import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield exporter
    tracing.install(None)
    provider.shutdown()


@pytest.fixture(params=["embedded", "kafka"])
def client(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: Callable[[str], str]
) -> Iterator[object]:
    """An HTTP client on a running backend, in the embedded mode (SQLite, log-following
    projectors) and in the distributed mode (PostgreSQL, relay, Kafka consumer projectors)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    services = {}
    if request.param == "kafka":
        services = {
            "postgres_url": request.getfixturevalue("postgres_url"),
            "kafka_bootstrap": request.getfixturevalue("kafka_bootstrap"),
            "redis_url": request.getfixturevalue("redis_url"),
        }
    # Requested after the services so that it is torn down before them.
    build: Callable[..., Runtime] = request.getfixturevalue("runtimes")
    marker = request.node.get_closest_marker("settings")
    overrides = marker.kwargs if marker else {}
    if request.param == "embedded":
        rt = build(make_settings(tmp_path / "var", **overrides))
    else:
        rt = build(
            make_settings(
                tmp_path / "var",
                database_url=services["postgres_url"],
                redis_url=services["redis_url"],
                kafka_bootstrap=services["kafka_bootstrap"],
                kafka_topic=unique_name("events"),
                kafka_group_prefix=unique_name("group"),
                read_your_writes_timeout_seconds=15,
                **overrides,
            )
        )
        rt.start_relay()
    rt.start_projectors()
    rt.start_policies()
    if request.node.get_closest_marker("workers"):
        rt.start_workers()
    with TestClient(create_app(rt)) as test_client:
        yield test_client

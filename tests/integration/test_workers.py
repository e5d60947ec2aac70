"""Dramatiq wiring: the same actor runs through the Redis broker (distributed) and the
in-process broker (embedded), with retries and backoff."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from devservices.settings import make_settings
from infra.jobs import make_broker


@pytest.fixture(params=["embedded", "redis"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> dramatiq.Broker:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    broker = make_broker(make_settings(tmp_path / "var", redis_url=redis_url))
    yield broker  # type: ignore[misc]
    broker.close()


def _consume(broker: dramatiq.Broker) -> dramatiq.Worker:
    """Consume the broker's queues in this process, as ``workers.jobs`` does."""
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    return worker


def test_failing_job_is_retried_with_backoff_until_it_succeeds(
    broker: dramatiq.Broker, unique_name: Callable[[str], str]
) -> None:
    attempts: Counter[str] = Counter()
    done = threading.Event()
    queue = unique_name("q")

    @dramatiq.actor(broker=broker, queue_name=queue, max_retries=3, min_backoff=10, max_backoff=50)
    def flaky(key: str) -> None:
        attempts[key] += 1
        if attempts[key] < 3:
            raise RuntimeError("transient")
        done.set()

    worker = _consume(broker)
    try:
        flaky.send("job-1")
        assert done.wait(20), "the job never succeeded"
    finally:
        worker.stop()
    assert attempts["job-1"] == 3


def test_job_that_keeps_failing_is_dead_lettered_after_its_retries(
    broker: dramatiq.Broker, unique_name: Callable[[str], str]
) -> None:
    attempts: Counter[str] = Counter()
    queue = unique_name("q")

    @dramatiq.actor(broker=broker, queue_name=queue, max_retries=1, min_backoff=10, max_backoff=20)
    def doomed(key: str) -> None:
        attempts[key] += 1
        raise RuntimeError("permanent")

    worker = _consume(broker)
    try:
        doomed.send("job-2")
        deadline = time.monotonic() + 20
        while _dead_letters(broker, queue) == 0:
            assert time.monotonic() < deadline, "the job was never dead-lettered"
            time.sleep(0.02)
    finally:
        worker.stop()
    assert attempts["job-2"] == 2  # the first attempt and one retry, then the dead-letter queue


def _dead_letters(broker: dramatiq.Broker, queue: str) -> int:
    if isinstance(broker, StubBroker):
        return len(broker.dead_letters_by_queue[queue])
    assert isinstance(broker, RedisBroker)
    return int(broker.client.zcard(f"{broker.namespace}:{queue}.XQ"))

"""The relay's batch window: appends made soon after a batch gather into the next one (one
read, one flush, one position save for all of them), while an idle relay publishes a lone
event without waiting for the window."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest

from app.runtime import Runtime
from commands.base import CommandContext
from devservices.settings import make_settings
from eventflow.codec import RecordedEvent
from eventflow.relay import Relay
from tests.support import increment, make_counters_projection

pytestmark = pytest.mark.kafka

WINDOW = 3.0


class RecordingRelay(Relay):
    """A relay that remembers the positions of each batch it published."""

    batches: list[list[int]]

    def publish(self, events: list[RecordedEvent]) -> None:
        super().publish(events)
        self.batches.append([event.position for event in events])


@pytest.fixture
def runtime(
    postgres_url: str,
    kafka_bootstrap: str,
    tmp_path: Path,
    unique_name: Callable[[str], str],
    runtimes: Callable[..., Runtime],
) -> Runtime:
    settings = make_settings(
        tmp_path / "var",
        database_url=postgres_url,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic=unique_name("events"),
        kafka_partitions=2,
        relay_batch_window_seconds=WINDOW,
    )
    return runtimes(settings, projections=[make_counters_projection()], policies=[])


def _published(relay: RecordingRelay, batches: int, within: float) -> None:
    deadline = time.monotonic() + within
    while len(relay.batches) < batches:
        assert time.monotonic() < deadline, f"published {relay.batches}, wanted {batches} batches"
        time.sleep(0.02)


def test_appends_within_the_window_share_one_batch_and_a_lone_event_does_not_wait(
    runtime: Runtime,
) -> None:
    relay = RecordingRelay(runtime.store, runtime.settings)
    relay.batches = []
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    try:
        counters = [uuid4() for _ in range(5)]
        increment(runtime.bus, CommandContext(), counters[0], 1)
        # The relay has published nothing yet, so the window does not hold the first event
        # back: it is out well before a window could have passed.
        _published(relay, 1, within=WINDOW / 2)
        for counter in counters:
            increment(runtime.bus, CommandContext(), counter, 1)
        _published(relay, 2, within=WINDOW * 4)
        time.sleep(0.2)  # nothing more may follow for them: they went out together
        assert [len(batch) for batch in relay.batches] == [1, 5]
        # A stop while the window is open ends the relay without waiting the window out.
        stop.set()
        thread.join(timeout=WINDOW / 2)
        assert not thread.is_alive(), "the relay waited out its window after a stop"
    finally:
        stop.set()
        thread.join(timeout=15)
        relay.close()

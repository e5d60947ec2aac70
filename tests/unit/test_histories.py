"""The bound on kept histories is counted in events, and a shorter history (a thread that
read earlier) never replaces a longer one."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from domain.aggregate import Cause
from domain.events import DomainEvent
from eventflow.histories import Histories
from tests.support import Counter


def _events(count: int) -> list[DomainEvent]:
    counter = Counter(uuid4())
    for _ in range(count):
        counter.increment(Cause(occurred_at=datetime.now(UTC), correlation_id=uuid4()))
    return counter.collect()


def test_the_least_recently_used_histories_leave_once_the_events_exceed_the_bound() -> None:
    kept = Histories(max_events=3, cipher=None)
    first, second = _events(2), _events(2)
    kept.extend(first[0].aggregate_id, None, first)
    kept.extend(second[0].aggregate_id, None, second)
    assert kept.get(first[0].aggregate_id) is None
    assert (history := kept.get(second[0].aggregate_id)) and history.version == 2


def test_a_history_longer_than_the_bound_is_served_but_not_kept() -> None:
    kept = Histories(max_events=3, cipher=None)
    long = _events(4)
    assert kept.extend(long[0].aggregate_id, None, long).version == 4
    assert kept.get(long[0].aggregate_id) is None


def test_a_shorter_history_does_not_replace_a_longer_one() -> None:
    kept = Histories(max_events=10, cipher=None)
    events = _events(3)
    aggregate = events[0].aggregate_id
    kept.extend(aggregate, None, events)
    kept.extend(aggregate, None, events[:1])  # a thread that read before the last appends
    assert (history := kept.get(aggregate)) and history.version == 3


def test_nothing_is_kept_with_a_bound_of_zero() -> None:
    kept = Histories(max_events=0, cipher=None)
    events = _events(1)
    assert kept.extend(events[0].aggregate_id, None, events).version == 1
    assert kept.get(events[0].aggregate_id) is None

"""Kept histories (``eventflow.histories``) over both stores: a load reads only what is new,
never misses another process's append, never serves a command's unsaved change, and never
serves personal data whose key has been destroyed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.aggregate import Aggregate, Cause, applies
from domain.events import ERASED, DomainEvent, Personal
from eventflow.store import EventStore, open_event_store
from infra.keystore import CACHE_SECONDS
from infra.settings import Settings
from tests.support import Counter


class NoteWritten(DomainEvent):
    topic = "test.NoteWritten"

    note: Personal


class Notebook(Aggregate):
    note: str = ""

    def write(self, cause: Cause, note: str) -> None:
        self._record(NoteWritten, cause, note=note)

    @applies(NoteWritten)
    def _written(self, event: NoteWritten) -> None:
        self.note = event.note


@pytest.fixture
def stores(settings: Settings) -> Iterator[tuple[EventStore, EventStore]]:
    """Two stores on one database: two processes, each with its own kept histories."""
    pair = (open_event_store(settings), open_event_store(settings))
    yield pair
    for store in pair:
        store.close()


def _cause() -> Cause:
    return Cause(occurred_at=datetime.now(UTC), correlation_id=uuid4(), actor_id="tester")


def _reads(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """Record the version each of the store's history reads started after."""
    after: list[int | None] = []
    select = store.recorder.select_events

    def spy(originator_id: UUID, **kwargs: Any) -> Any:
        after.append(kwargs.get("gt"))
        return select(originator_id, **kwargs)

    monkeypatch.setattr(store.recorder, "select_events", spy)
    return after


def _saved(store: EventStore, *increments: int) -> UUID:
    counter = Counter(uuid4())
    for by in increments:
        counter.increment(_cause(), by)
    store.append(counter.collect())
    return counter.id


def _loaded(store: EventStore, counter_id: UUID) -> Counter:
    counter = store.load(Counter, counter_id)
    assert counter is not None
    return counter


def test_a_load_reads_only_what_was_appended_since_the_last(
    stores: tuple[EventStore, EventStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = stores
    counter_id = _saved(store, 1, 2, 3)
    reads = _reads(store, monkeypatch)
    loaded = _loaded(store, counter_id)
    assert (loaded.value, loaded.version) == (6, 3)
    loaded.increment(_cause(), 4)
    store.append(loaded.collect())
    again = _loaded(store, counter_id)
    assert (again.value, again.version) == (10, 4)
    assert reads == [None, 3]  # the whole history once, then only the event after version 3


def test_the_events_after_a_version_are_served_kept_or_read_alone(
    stores: tuple[EventStore, EventStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``events(after=v)``: from the kept history (reading only what is new) when this
    process holds one, else only the rows after ``v``, never the whole history."""
    mine, theirs = stores
    counter_id = _saved(mine, 1, 2, 3, 4)
    fresh = _reads(theirs, monkeypatch)
    assert [e.version for e in theirs.events(counter_id, after=2)] == [3, 4]
    assert fresh == [2]  # nothing kept there: the tail alone
    assert _loaded(mine, counter_id).version == 4
    kept = _reads(mine, monkeypatch)
    assert [e.version for e in mine.events(counter_id, after=1)] == [2, 3, 4]
    assert kept == [4]  # kept here: only what came after the kept version


def test_an_append_by_another_process_is_not_missed(
    stores: tuple[EventStore, EventStore],
) -> None:
    mine, theirs = stores
    counter_id = _saved(mine, 1)
    assert _loaded(mine, counter_id).value == 1
    other = _loaded(theirs, counter_id)
    other.increment(_cause(), 10)
    theirs.append(other.collect())
    reloaded = _loaded(mine, counter_id)
    assert (reloaded.value, reloaded.version) == (11, 2)


def test_an_unsaved_change_is_not_served_to_the_next_load(
    stores: tuple[EventStore, EventStore],
) -> None:
    store, _ = stores
    counter_id = _saved(store, 1)
    refused = _loaded(store, counter_id)
    refused.increment(_cause(), 100)  # a command that then fails: nothing is appended
    reloaded = _loaded(store, counter_id)
    assert (reloaded.value, reloaded.version, reloaded.pending) == (1, 1, [])


def _kept_note(store: EventStore, subject: UUID) -> str:
    notebook = store.load(Notebook, subject)
    assert notebook is not None
    return notebook.note


def _noted(store: EventStore) -> UUID:
    """A notebook with a secret note, loaded once so its decrypted history is kept."""
    notebook = Notebook(uuid4())
    notebook.write(_cause(), "my secret")
    store.append(notebook.collect())
    assert _kept_note(store, notebook.id) == "my secret"
    return notebook.id


def test_a_key_destroyed_here_erases_the_kept_history_at_once(
    stores: tuple[EventStore, EventStore],
) -> None:
    store, _ = stores
    subject = _noted(store)
    assert store.cipher is not None
    store.cipher.keys.destroy(str(subject))
    assert _kept_note(store, subject) == ERASED


def test_a_key_destroyed_elsewhere_erases_the_kept_history_when_the_key_cache_lapses(
    stores: tuple[EventStore, EventStore],
) -> None:
    mine, theirs = stores
    subject = _noted(mine)
    assert theirs.cipher is not None and mine.cipher is not None
    theirs.cipher.keys.destroy(str(subject))
    mine.cipher.keys.clock = lambda: time.monotonic() + CACHE_SECONDS
    assert _kept_note(mine, subject) == ERASED

"""The relay's position and partition marks survive a restart as they were last saved,
whichever partitions a save changed, on SQLite and PostgreSQL; a save leaves the rows of
unchanged partitions alone."""

from __future__ import annotations

import psycopg
import pytest
from eventsourcing import persistence

from eventflow.relay import PartitionMark, RelayPosition
from eventflow.store import EventStore, open_event_store
from infra.settings import Settings


def _reread(settings: Settings) -> tuple[int, dict[int, PartitionMark]]:
    """What a restarted relay reads back."""
    store = open_event_store(settings)
    try:
        position = RelayPosition(store, "kafka")
        return position.load(), position.marks()
    finally:
        store.close()


def test_saved_marks_read_back_exactly_after_changes_additions_and_a_reset(
    settings: Settings, store: EventStore
) -> None:
    position = RelayPosition(store, "kafka")
    marks = {0: PartitionMark(3, 1, "t"), 1: PartitionMark(5, 2, "t")}
    position.save(5, marks)
    assert _reread(settings) == (5, marks)

    marks = {**marks, 1: PartitionMark(9, 3, "t"), 2: PartitionMark(8, 1, "t")}
    position.save(9, marks)  # partition 0 unchanged, 1 moved on, 2 new
    assert _reread(settings) == (9, marks)

    position.save(12)  # a position without marks leaves the marks as they are
    assert _reread(settings) == (12, marks)

    position.save(0, {})  # the broker lost data: republish from the start
    assert _reread(settings) == (0, {})

    again = {3: PartitionMark(2, 1, "u")}
    position.save(2, again)
    assert _reread(settings) == (2, again)


def test_a_relay_that_read_its_marks_back_saves_on_top_of_them(
    settings: Settings, store: EventStore
) -> None:
    RelayPosition(store, "kafka").save(4, {0: PartitionMark(4, 1, "t")})
    restarted = RelayPosition(store, "kafka")
    marks = restarted.marks()
    marks[1] = PartitionMark(6, 1, "t")
    restarted.save(6, marks)
    assert _reread(settings) == (6, marks)


def test_marks_changed_in_place_between_saves_are_saved(
    settings: Settings, store: EventStore
) -> None:
    """What the relay does: one dict, updated per batch and saved after each."""
    position = RelayPosition(store, "kafka")
    marks = {0: PartitionMark(1, 1, "t")}
    position.save(1, marks)
    marks[0] = PartitionMark(2, 2, "t")
    marks[1] = PartitionMark(3, 1, "t")
    position.save(3, marks)
    assert _reread(settings) == (3, marks)


def test_a_save_that_failed_is_not_taken_for_written(settings: Settings, store: EventStore) -> None:
    position = RelayPosition(store, "kafka")
    position.save(1, {0: PartitionMark(1, 1, "t")})
    # A constraint refuses the row: the save fails inside its transaction.
    with pytest.raises((persistence.IntegrityError, psycopg.IntegrityError)):
        position.save(2, {0: PartitionMark(2, 2, None)})  # type: ignore[arg-type]
    # Had the failed save been taken for written, partition 0 would look saved at 2.
    marks = {0: PartitionMark(1, 1, "t"), 1: PartitionMark(2, 1, "t")}
    position.save(2, marks)
    assert _reread(settings) == (2, marks)


def test_a_save_rewrites_only_the_partitions_it_changed(pg_settings: Settings) -> None:
    store = open_event_store(pg_settings)
    try:
        position = RelayPosition(store, "kafka")
        position.save(2, {0: PartitionMark(1, 1, "t"), 1: PartitionMark(2, 1, "t")})

        def row_versions() -> dict[int, str]:
            with psycopg.connect(pg_settings.database_url) as conn:
                rows = conn.execute(
                    "SELECT partition, xmin::text FROM languagemate_relay_partitions"
                ).fetchall()
            return dict(rows)

        before = row_versions()
        position.save(3, {0: PartitionMark(1, 1, "t"), 1: PartitionMark(3, 2, "t")})
        after = row_versions()
        assert after[0] == before[0]  # untouched
        assert after[1] != before[1]
    finally:
        store.close()

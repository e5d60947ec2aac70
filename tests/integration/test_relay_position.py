"""The relay's position and partition marks survive a restart as they were last saved,
whichever partitions a save changed (it writes only those), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from eventflow.relay import PartitionMark, RelayPosition
from eventflow.store import open_event_store
from infra.settings import Settings


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest) -> Settings:
    name = "sqlite_settings" if request.param == "sqlite" else "pg_settings"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def _reread(settings: Settings) -> tuple[int, dict[int, PartitionMark]]:
    """What a restarted relay reads back."""
    store = open_event_store(settings)
    try:
        position = RelayPosition(store, "kafka")
        return position.load(), position.marks()
    finally:
        store.close()


def test_saved_marks_read_back_exactly_after_changes_additions_and_a_reset(
    settings: Settings,
) -> None:
    store = open_event_store(settings)
    try:
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
    finally:
        store.close()


def test_a_relay_that_read_its_marks_back_saves_on_top_of_them(settings: Settings) -> None:
    store = open_event_store(settings)
    try:
        RelayPosition(store, "kafka").save(4, {0: PartitionMark(4, 1, "t")})
        restarted = RelayPosition(store, "kafka")
        marks = restarted.marks()
        marks[1] = PartitionMark(6, 1, "t")
        restarted.save(6, marks)
        assert _reread(settings) == (6, marks)
    finally:
        store.close()

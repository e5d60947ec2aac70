"""The event history as a product for analysts: export it, import it, replay it.

**Export** writes JSON Lines, one stored event per line, in log order::

    {"position": 17, "aggregate_id": "...", "version": 3, "topic": "chat.MessageSent",
     "event": {"schema_version": 1, "meta": {...}, "data": {...}}}

``event`` is the stored document byte for byte (it is spliced in, not re-encoded, which is
what makes the export fast), the same JSON the relay publishes to Kafka. Personal fields
stay encrypted as stored (``pii:v1:...``): an export is no way around crypto-shredding, and
an erased user stays erased in every export. Memory is constant: the log is read in pages.

**Import** restores an export into an empty store: same positions, aggregates, versions,
topics and documents. Point ``KEYSTORE_DATABASE_URL`` at the source's key store and the imported log
decrypts exactly as the original: rebuilt read models are identical.

**Replay** feeds the history, in order, to an analyst's own function
``handler(event: DomainEvent, position: int)``, remembering the last position handled in a
checkpoint file so an interrupted replay resumes where it stopped (the checkpoint is written
every 5,000 events, so after a crash a handler may see up to that many again: key its own
state on the position). Personal fields reach the handler encrypted, as in an export.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import orjson

from domain.events import DomainEvent
from eventflow.codec import RecordedEvent, decode
from eventflow.store import EventStore

PAGE = 5_000
IMPORT_BATCH = 1_000


@dataclass(frozen=True)
class Selection:
    """Which events: topics (any of), one aggregate, a position range, a time range."""

    topics: Sequence[str] = ()
    aggregate_id: UUID | None = None
    after: int = 0
    upto: int | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches_time(self, event: RecordedEvent) -> bool:
        if self.since is None and self.until is None:
            return True
        occurred = datetime.fromisoformat(event.document()["meta"]["occurred_at"])
        return (self.since is None or occurred >= self.since) and (
            self.until is None or occurred < self.until
        )


def selected(store: EventStore, selection: Selection) -> Iterator[RecordedEvent]:
    """The matching events in log order, a page at a time."""
    after = selection.after
    while True:
        page = store.read(after, PAGE, topics=selection.topics)
        if not page:
            return
        for event in page:
            if selection.upto is not None and event.position > selection.upto:
                return
            if selection.aggregate_id is not None and event.aggregate_id != selection.aggregate_id:
                continue
            if selection.matches_time(event):
                yield event
        after = page[-1].position


def export(events: Iterable[RecordedEvent], out: IO[bytes]) -> int:
    """Write ``events`` as JSON Lines; the count written."""
    count = 0
    for event in events:
        head = orjson.dumps({"position": event.position, "aggregate_id": event.aggregate_id,
                             "version": event.version, "topic": event.topic})  # fmt: skip
        out.write(head[:-1] + b',"event":' + event.state + b"}\n")
        count += 1
    return count


class ImportRefused(Exception):
    """The target store is not empty, or a line is not an exported event."""


Row = tuple[int, UUID, int, str, bytes]


def import_lines(store: EventStore, lines: Iterable[bytes]) -> int:
    """Restore exported events into an empty store; the count restored. Positions must
    rise (an export's do), or the import stops at the offending line."""
    if store.max_position():
        raise ImportRefused("the target event store is not empty; import into a fresh one")
    batch: list[Row] = []
    count, last = 0, 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
            position = int(row["position"])
            batch.append((position, UUID(row["aggregate_id"]), int(row["version"]),
                          str(row["topic"]), orjson.dumps(row["event"])))  # fmt: skip
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ImportRefused(f"line {number} is not an exported event: {exc}") from None
        if position <= last:
            raise ImportRefused(f"line {number}: position {position} does not follow {last}")
        last = position
        if len(batch) >= IMPORT_BATCH:
            count += _restore(store, batch)
    return count + _restore(store, batch)


def _restore(store: EventStore, batch: list[Row]) -> int:
    if batch:
        store.restore(batch)
    restored, batch[:] = len(batch), []
    return restored


Handler = Callable[[DomainEvent, int], Any]


def load_handler(spec: str) -> Handler:
    """``package.module:function`` -> the function."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError("the handler must be given as module:function")
    handler = getattr(importlib.import_module(module), name, None)
    if not callable(handler):
        raise ValueError(f"{spec} is not a function")
    return handler  # type: ignore[no-any-return]


def replay(
    store: EventStore, handler: Handler, selection: Selection, checkpoint: Path | None
) -> int:
    """Feed the selected events to ``handler`` in order, resuming after the position in
    ``checkpoint`` (written after every page, atomically); the count handled."""
    resumed = Selection(**{**selection.__dict__, "after": resume_after(selection, checkpoint)})
    handled, last = 0, resumed.after
    for event in selected(store, resumed):
        handler(decode(event.topic, event.state, position=event.position), event.position)
        handled, last = handled + 1, event.position
        if checkpoint is not None and handled % PAGE == 0:
            _save(checkpoint, last)
    if checkpoint is not None:
        _save(checkpoint, last)
    return handled


def resume_after(selection: Selection, checkpoint: Path | None) -> int:
    """The position a replay starts after: the selection's, or the checkpoint's if later."""
    start = int(checkpoint.read_text()) if checkpoint and checkpoint.exists() else 0
    return max(selection.after, start)


def _save(checkpoint: Path, position: int) -> None:
    partial = checkpoint.with_suffix(checkpoint.suffix + ".partial")
    partial.write_text(str(position))
    os.replace(partial, checkpoint)

"""The event history as a Parquet file, the format analysts' tools (DuckDB, pandas, Spark,
BigQuery) read without a parser of ours.

One row per event: the envelope as typed columns, so that filtering by type, time or actor
needs no JSON, and the payload as one JSON column (Parquet's JSON logical type, which DuckDB
reads as ``JSON``) since each event type has its own fields::

    position        int64      global order (increasing, may have gaps)
    event_id        string     stable across re-imports
    aggregate_id    string
    version         int64      the event's version within its aggregate
    topic           string     e.g. chat.ChatMessagePosted (dictionary-encoded)
    schema_version  int32      of the payload, as stored (older ones are upcast on read)
    occurred_at     timestamp  microseconds, UTC
    actor_id        string     null when nobody is named
    correlation_id  string
    causation_id    string     null for a command's first event
    payload         json       the stored ``data`` object

Personal fields stay exactly as in the JSON Lines export: AES-GCM ciphertext under their
subject's key (``pii:v1:...``), never decrypted here, so an erased user stays erased in
every file. Memory is bounded: events are gathered into row groups of :data:`ROW_GROUP`
and each is written before the next is read, so the file may be far larger than memory and
may go to a pipe (Parquet's footer comes last).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from eventflow.codec import RecordedEvent

ROW_GROUP = 50_000
"""Events per row group: large enough for column statistics and compression to pay,
small enough (tens of MB of chat messages) to hold while writing."""

UTC_MICROSECONDS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        pa.field("position", pa.int64(), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("aggregate_id", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        pa.field("topic", pa.string(), nullable=False),
        pa.field("schema_version", pa.int32(), nullable=False),
        pa.field("occurred_at", UTC_MICROSECONDS, nullable=False),
        pa.field("actor_id", pa.string()),
        pa.field("correlation_id", pa.string(), nullable=False),
        pa.field("causation_id", pa.string()),
        pa.field("payload", pa.json_(pa.string()), nullable=False),
    ]
)


class _RowGroup:
    """Columns of the events gathered so far, as Python lists."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}

    def __len__(self) -> int:
        return len(self.columns["position"])

    def add(self, event: RecordedEvent) -> None:
        document = orjson.loads(event.state)
        meta = document["meta"]
        values = (
            event.position,
            meta["event_id"],
            str(event.aggregate_id),
            event.version,
            event.topic,
            document["schema_version"],
            meta["occurred_at"],
            meta.get("actor_id"),
            meta["correlation_id"],
            meta.get("causation_id"),
            orjson.dumps(document["data"]).decode(),
        )
        for column, value in zip(self.columns.values(), values, strict=True):
            column.append(value)

    def batch(self) -> pa.RecordBatch:
        arrays = []
        for field in SCHEMA:
            values = self.columns[field.name]
            if field.type == UTC_MICROSECONDS:
                # Arrow parses the stored ISO 8601 times (with their offset) itself.
                arrays.append(pa.array(values, pa.string()).cast(UTC_MICROSECONDS))
            else:
                arrays.append(pa.array(values, field.type))
        return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


def export_parquet(events: Iterable[RecordedEvent], out: IO[bytes]) -> int:
    """Write ``events`` to ``out`` as one Parquet file (zstd); the count written."""
    count = 0
    with pq.ParquetWriter(out, SCHEMA, compression="zstd") as writer:
        group = _RowGroup()
        for event in events:
            group.add(event)
            count += 1
            if len(group) >= ROW_GROUP:
                writer.write_batch(group.batch(), row_group_size=ROW_GROUP)
                group = _RowGroup()
        if len(group) or not count:
            writer.write_batch(group.batch(), row_group_size=ROW_GROUP)
    return count

"""The handlers' view of one batch transaction: writes buffered and flushed in bulk.

Consecutive writes of one shape become a single executemany, built once per shape, which
is what lets a projector apply thousands of events a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

Shape = tuple[str, str, tuple[str, ...], tuple[str, ...]]
"""(kind, table, columns, key-or-where columns): writes of one shape share one statement."""


class ProjectionTx:
    """The handlers' view of one batch transaction.

    Writes are buffered and flushed in bulk (consecutive writes of one shape become a single
    executemany, built once per shape), which is what lets a projector apply thousands of
    events a second. Reading through ``execute`` flushes first, so handlers always see their
    own writes.
    """

    _statements: ClassVar[dict[tuple[int, Shape, bool], sa.Executable]] = {}

    def __init__(self, conn: Connection, tables: dict[str, sa.Table]) -> None:
        self.memo: dict[str, Any] = {}
        """What a handler wants to remember for the rest of this batch (and no longer)."""
        self.conn = conn
        self._tables = tables
        self._ops: list[tuple[Shape, dict[str, Any]]] = []
        self._refreshes: dict[tuple[str, str, str, tuple[str, ...], Any], None] = {}
        self._postgres = conn.dialect.name == "postgresql"

    def table(self, name: str) -> sa.Table:
        return self._tables[name]

    def insert(self, name: str, row: dict[str, Any]) -> None:
        self._ops.append((("insert", name, tuple(row), ()), row))

    def upsert(
        self, name: str, row: dict[str, Any], key: Sequence[str], latest: Sequence[str] = ()
    ) -> None:
        """Insert or replace the given columns of the row identified by ``key``.

        ``latest`` columns keep the greater of the stored and the new value instead. A row
        fed by events of several aggregates (a user's account and profile) sees them in a
        different order from each Kafka partition than from the log; a column such as
        "updated at" must come out the same whatever that order was."""
        kind = "upsert:" + ",".join(latest) if latest else "upsert"
        self._ops.append(((kind, name, tuple(row), tuple(key)), row))

    def add(self, name: str, key: dict[str, Any], column: str, amount: int) -> None:
        """Add ``amount`` to ``column`` of the row identified by ``key`` (created at
        ``amount`` if missing): a counter, bulk-written like every other write."""
        self._ops.append((("add", name, (column,), tuple(key)), {**key, column: amount}))

    def update(self, name: str, where: dict[str, Any], values: dict[str, Any]) -> None:
        params = {f"w_{k}": v for k, v in where.items()} | {f"v_{c}": v for c, v in values.items()}
        self._ops.append((("update", name, tuple(values), tuple(where)), params))

    def delete(self, name: str, where: dict[str, Any]) -> None:
        params = {f"w_{k}": v for k, v in where.items()}
        self._ops.append((("delete", name, (), tuple(where)), params))

    def refresh_copies(
        self, name: str, source: str, match: str, copied: Sequence[str], value: Any
    ) -> None:
        """Once this batch's writes are flushed, set the ``copied`` columns of ``name``'s
        rows whose ``match`` column is ``value`` from the ``source`` row with the same value.

        For a denormalised table (a copy of a few columns kept for single-table queries):
        however many events of a batch touch one key, its copies are refreshed once, from
        the final state, and the batch stays buffered instead of reading per event.
        """
        self._refreshes[(name, source, match, tuple(copied), value)] = None

    def discard(self) -> None:
        """Forget the writes buffered since the last flush (a handler failed midway)."""
        self._ops, self._refreshes = [], {}

    def execute(self, statement: sa.Executable) -> sa.CursorResult[Any]:
        self.flush()
        return self.conn.execute(statement)

    def _statement(self, shape: Shape) -> sa.Executable:
        table = self._tables[shape[1]]
        cache_key = (id(table), shape, self._postgres)
        cached = self._statements.get(cache_key)
        if cached is not None:
            return cached
        kind, _, columns, keys = shape
        stmt: sa.Executable
        if kind == "insert":
            stmt = table.insert()
        elif kind.startswith("upsert"):
            dialect_insert = (postgresql.insert if self._postgres else sqlite.insert)(table)
            updates: dict[str, Any] = {
                c: dialect_insert.excluded[c] for c in columns if c not in keys
            }
            greatest = sa.func.greatest if self._postgres else sa.func.max
            for c in _latest_columns(kind):
                if c in updates:
                    updates[c] = greatest(table.c[c], dialect_insert.excluded[c])
            stmt = (
                dialect_insert.on_conflict_do_update(index_elements=list(keys), set_=updates)
                if updates
                else dialect_insert.on_conflict_do_nothing(index_elements=list(keys))
            )
        elif kind == "add":
            dialect_insert = (postgresql.insert if self._postgres else sqlite.insert)(table)
            stmt = dialect_insert.on_conflict_do_update(
                index_elements=list(keys),
                set_={c: table.c[c] + dialect_insert.excluded[c] for c in columns},
            )
        elif kind == "refresh":
            origin, match = self._tables[keys[0]], keys[1]
            stmt = (
                table.update()
                .where(table.c[match] == sa.bindparam("w_value"))
                .values(
                    {
                        c: sa.select(origin.c[c])
                        .where(origin.c[match] == table.c[match])
                        .scalar_subquery()
                        for c in columns
                    }
                )
            )
        elif kind == "update":
            stmt = (
                table.update()
                .where(*(table.c[k] == sa.bindparam(f"w_{k}") for k in keys))
                .values({c: sa.bindparam(f"v_{c}") for c in columns})
            )
        else:
            stmt = table.delete().where(*(table.c[k] == sa.bindparam(f"w_{k}") for k in keys))
        self._statements[cache_key] = stmt
        return stmt

    def flush(self) -> None:
        """Write the buffer table by table: writes to one table keep their order (runs of
        one shape become one executemany); writes to different tables may be reordered,
        which is safe because read models have no cross-table constraints, every read
        (``execute``) flushes first, and :meth:`refresh_copies` runs last."""
        ops, self._ops = self._ops, []
        by_table: dict[str, list[tuple[Shape, dict[str, Any]]]] = {}
        for op in ops:
            by_table.setdefault(op[0][1], []).append(op)
        refreshes: dict[Shape, list[dict[str, Any]]] = {}
        for name, source, match, copied, value in self._refreshes:
            refreshes.setdefault(("refresh", name, copied, (source, match)), []).append(
                {"w_value": value}
            )
        self._refreshes = {}
        for table_ops in by_table.values():
            for shape, rows in _runs(table_ops):
                self.conn.execute(self._statement(shape), rows)
        for shape, rows in refreshes.items():
            self.conn.execute(self._statement(shape), rows)


def _runs(ops: list[tuple[Shape, dict[str, Any]]]) -> list[tuple[Shape, list[dict[str, Any]]]]:
    """Group one table's writes into bulk statements without changing the outcome.

    A run of upserts with the same key columns is merged per row key (later columns win,
    as they would executing one by one), so handlers that each set a few columns of a row
    still become one statement per column set instead of one round trip per event; a run
    of updates of the same columns keeps the last per key (unless it changes its own key
    columns), and a run of additions to one counter column is summed per key. Any other
    write ends the run, keeping its order against the writes around it.
    """
    grouped: list[tuple[Shape, list[dict[str, Any]]]] = []
    start = 0
    while start < len(ops):
        shape = ops[start][0]
        end = start + 1
        while end < len(ops) and _same_run(shape, ops[end][0]):
            end += 1
        grouped.extend(_merged(shape, [row for _, row in ops[start:end]]))
        start = end
    return grouped


def _same_run(first: Shape, other: Shape) -> bool:
    if first[0].startswith("upsert"):
        return other[0] == first[0] and other[3] == first[3]
    return other == first


def _latest_columns(kind: str) -> list[str]:
    """The ``latest`` columns an upsert's kind names (``upsert:col,col``)."""
    return kind.partition(":")[2].split(",") if ":" in kind else []


def _merged(shape: Shape, rows: list[dict[str, Any]]) -> list[tuple[Shape, list[dict[str, Any]]]]:
    kind, table, columns, keys = shape
    if kind.startswith("upsert"):
        merged: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            key = tuple(row[k] for k in keys)
            before = merged.get(key, {})
            merged[key] = {**before, **row}
            for c in _latest_columns(kind):
                if before.get(c) is not None and row.get(c) is not None:
                    merged[key][c] = max(before[c], row[c])
        by_shape: dict[Shape, list[dict[str, Any]]] = {}
        for row in merged.values():
            by_shape.setdefault((kind, table, tuple(sorted(row)), keys), []).append(row)
        return list(by_shape.items())
    if kind == "update" and not set(columns) & set(keys):
        # Only the last update of a row lasts (a busy chat room's "last message" is then
        # written once per batch, not once per message).
        latest: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            latest.pop(key := tuple(row[f"w_{k}"] for k in keys), None)
            latest[key] = row
        return [(shape, list(latest.values()))]
    if kind == "add":
        sums: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            key = tuple(row[k] for k in keys)
            if key in sums:
                sums[key][columns[0]] += row[columns[0]]
            else:
                sums[key] = dict(row)
        return [(shape, list(sums.values()))]
    return [(shape, rows)]

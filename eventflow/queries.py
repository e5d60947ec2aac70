"""Helpers for the query functions of projection modules: typed rows, bulk reads, pages, sync
windows.

Each projection module declares a ``TypedDict`` per table whose rows leave it, next to the
table; the helpers here hand rows back as that type, so mypy checks every column name and
type where api/, policies/ and workers/ use a row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.events import registry
from eventflow.readmodels import ReadModels

RowT = TypeVar("RowT")


def utc(value: Any) -> Any:
    """A stored time as an aware UTC time (SQLite hands them back without their zone)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def as_row(row_type: type[RowT], columns: Mapping[Any, Any], *, zoned: bool = False) -> RowT:
    """A read-model row as its declared ``TypedDict`` (``zoned``: times made aware UTC).
    The one unchecked step between SQL and the typed code: ``tests/unit/test_row_types.py``
    holds each row type to its table's columns."""
    if zoned:
        return cast(RowT, {k: utc(v) for k, v in columns.items()})
    return cast(RowT, dict(columns))


def rows_of(
    read_models: ReadModels, query: sa.Select[Any], row_type: type[RowT], *, zoned: bool = False
) -> list[RowT]:
    """Every row ``query`` selects, as ``row_type``."""
    with read_models.reads() as conn:
        return _rows(conn, query, row_type, zoned=zoned)


def _rows(
    conn: Connection, query: sa.Select[Any], row_type: type[RowT], *, zoned: bool = False
) -> list[RowT]:
    return [as_row(row_type, r._mapping, zoned=zoned) for r in conn.execute(query)]


def first_row(
    read_models: ReadModels, query: sa.Select[Any], row_type: type[RowT], *, zoned: bool = False
) -> RowT | None:
    """The first row ``query`` selects (lookups by key), as ``row_type``; None if none."""
    with read_models.reads() as conn:
        row = conn.execute(query).first()
    return None if row is None else as_row(row_type, row._mapping, zoned=zoned)


def rows_where(
    read_models: ReadModels,
    table: sa.Table,
    column: str,
    values: Sequence[str],
    row_type: type[RowT],
) -> dict[str, RowT]:
    """Rows whose ``column`` is one of ``values``, keyed by it (bulk reads for list views)."""
    if not values:
        return {}
    query = sa.select(table).where(table.c[column].in_(list(values)))
    with read_models.reads() as conn:
        return {getattr(r, column): as_row(row_type, r._mapping) for r in conn.execute(query)}


def page_of(
    read_models: ReadModels,
    table: sa.Table,
    conditions: Sequence[Any],
    row_type: type[RowT],
    *,
    order_by: Any,
    page: int,
    size: int,
) -> tuple[list[RowT], int]:
    """One page of rows and the real total (list endpoints answer both), read in one
    snapshot: a projection committing between the two reads must not leave a page whose
    rows and total disagree."""
    query = sa.select(table).where(*conditions).order_by(order_by)
    with read_models.snapshot() as conn:
        total = conn.execute(
            sa.select(sa.func.count()).select_from(table).where(*conditions)
        ).scalar_one()
        return _rows(conn, query.limit(size).offset((page - 1) * size), row_type), int(total)


class Positioned(TypedDict):
    """What every row a ``Window`` reads has: the position of the event that last changed
    it (each of those row types has this column)."""

    position: int


@dataclass(frozen=True)
class Window:
    """Rows changed by events at positions in ``(since, upto]``, oldest first, at most
    ``limit`` of them (``None``: all). What an offline client's sync asks each read model."""

    since: int
    upto: int
    limit: int | None

    def rows(
        self,
        read_models: ReadModels,
        query: sa.Select[Any],
        position: Any,
        row_type: type[RowT],
        *,
        zoned: bool = False,
    ) -> list[RowT]:
        query = query.where(position > self.since, position <= self.upto).order_by(position)
        if self.limit is not None:
            query = query.limit(self.limit)
        return rows_of(read_models, query, row_type, zoned=zoned)


def known_topics() -> list[str]:
    return [cls.topic for cls in registry]

"""Helpers for the query functions of projection modules: bulk reads, pages, sync windows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from domain.events import registry
from eventflow.readmodels import ReadModels


def rows_where(
    read_models: ReadModels, table: sa.Table, column: str, values: Sequence[Any]
) -> dict[Any, dict[str, Any]]:
    """Rows whose ``column`` is one of ``values``, keyed by it (bulk reads for list views)."""
    if not values:
        return {}
    with read_models.engine.connect() as conn:
        rows = conn.execute(sa.select(table).where(table.c[column].in_(list(values)))).all()
    return {getattr(r, column): dict(r._mapping) for r in rows}


def page_of(
    read_models: ReadModels,
    table: sa.Table,
    conditions: Sequence[Any],
    *,
    order_by: Any,
    page: int,
    size: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page of rows and the real total (list endpoints answer both)."""
    with read_models.engine.connect() as conn:
        total = conn.execute(
            sa.select(sa.func.count()).select_from(table).where(*conditions)
        ).scalar_one()
        rows = conn.execute(
            sa.select(table)
            .where(*conditions)
            .order_by(order_by)
            .limit(size)
            .offset((page - 1) * size)
        ).all()
    return [dict(r._mapping) for r in rows], int(total)


@dataclass(frozen=True)
class Window:
    """Rows changed by events at positions in ``(since, upto]``, oldest first, at most
    ``limit`` of them (``None``: all). What an offline client's sync asks each read model."""

    since: int
    upto: int
    limit: int | None

    def rows(
        self, read_models: ReadModels, query: sa.Select[Any], position: Any
    ) -> list[dict[str, Any]]:
        query = query.where(position > self.since, position <= self.upto).order_by(position)
        if self.limit is not None:
            query = query.limit(self.limit)
        with read_models.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


def known_topics() -> list[str]:
    return [cls.topic for cls in registry]

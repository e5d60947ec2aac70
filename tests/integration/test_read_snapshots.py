"""Answers made of more than one query read one snapshot: a page's rows and its total agree
even when a projection commits between the two reads (CI once saw a notification list with
one row and ``totalElements: 0``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
import sqlalchemy as sa
from sqlalchemy import event as sa_event

from eventflow.queries import page_of
from eventflow.readmodels import ReadModels
from eventflow.schema import create_engine


class Row(TypedDict):
    id: int


@pytest.fixture(params=["sqlite", "postgres"])
def read_models(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReadModels]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'read.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    yield ReadModels(engine, [])
    engine.dispose()


def test_a_page_and_its_total_come_from_one_snapshot(read_models: ReadModels) -> None:
    table = sa.Table("rows", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    table.create(read_models.engine)
    with read_models.engine.begin() as conn:
        conn.execute(table.insert().values(id=1))

    def commit_a_row_after_the_count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        """A projection's batch landing between the page's two reads."""
        if "count(" in statement.lower():
            with read_models.engine.begin() as other:
                other.execute(table.insert().values(id=2))

    sa_event.listen(read_models.engine, "after_cursor_execute", commit_a_row_after_the_count)
    try:
        rows, total = page_of(read_models, table, [], Row, order_by=table.c.id, page=1, size=20)
    finally:
        sa_event.remove(read_models.engine, "after_cursor_execute", commit_a_row_after_the_count)

    assert [r["id"] for r in rows] == [1] and total == 1
    again, total = page_of(read_models, table, [], Row, order_by=table.c.id, page=1, size=20)
    assert [r["id"] for r in again] == [1, 2] and total == 2  # the row did land

"""Query functions read through ``ReadModels.reads()``: on PostgreSQL a read holds no
transaction (no ``BEGIN`` before it, no ``ROLLBACK`` after it), and the pooled connection it
used is transactional again for the next writer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from psycopg.pq import TransactionStatus

from eventflow.readmodels import ReadModels
from eventflow.schema import create_engine

pytestmark = pytest.mark.postgres


@pytest.fixture
def read_models(postgres_url: str) -> Iterator[ReadModels]:
    engine = create_engine(postgres_url, pool_size=1)
    yield ReadModels(engine, [])
    engine.dispose()


def _status_after_a_read(conn: sa.Connection) -> TransactionStatus:
    conn.execute(sa.text("SELECT 1")).scalar_one()
    return conn.connection.dbapi_connection.info.transaction_status  # type: ignore[union-attr]


def test_a_read_opens_no_transaction(read_models: ReadModels) -> None:
    with read_models.reads() as conn:
        assert _status_after_a_read(conn) == TransactionStatus.IDLE
    # What a plain connection does: a transaction begun for one SELECT, rolled back later.
    with read_models.engine.connect() as conn:
        assert _status_after_a_read(conn) == TransactionStatus.INTRANS


def test_the_connection_a_read_used_is_transactional_again(read_models: ReadModels) -> None:
    table = sa.Table("rows", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    table.create(read_models.engine)
    with read_models.reads() as conn:
        reader = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()

    def a_batch_that_fails_after_its_first_write() -> None:
        with read_models.engine.begin() as conn:
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() == reader
            conn.execute(table.insert().values(id=1))
            raise RuntimeError("the batch fails")

    with pytest.raises(RuntimeError, match="the batch fails"):
        a_batch_that_fails_after_its_first_write()

    with read_models.reads() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0

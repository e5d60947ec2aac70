"""The read-model pool does not ping before each use (a round trip per read, batch and
reaction), so what it does when PostgreSQL drops its connections (a restart, a failover, an
idle timeout) is pinned here: one statement fails, and the pool is whole again."""

from __future__ import annotations

import threading

import psycopg
import pytest
import sqlalchemy as sa

from eventflow.schema import create_engine

pytestmark = pytest.mark.postgres


def _held_backends(engine: sa.Engine, count: int) -> list[int]:
    """Open ``count`` pooled connections at once and return them to the pool; their pids."""
    barrier = threading.Barrier(count)
    pids: list[int] = []

    def hold() -> None:
        with engine.connect() as conn:
            pids.append(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
            barrier.wait(timeout=10)

    threads = [threading.Thread(target=hold) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return pids


def test_a_pool_whose_connections_the_server_dropped_fails_one_read_then_serves(
    postgres_url: str, postgres_admin_url: str
) -> None:
    engine = create_engine(postgres_url, pool_size=2)  # up to 4 connections
    try:
        pids = _held_backends(engine, 4)
        assert len(set(pids)) == 4
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(*) FROM unnest(%s::int[]) AS p WHERE pg_terminate_backend(p, 5000)",
                (pids,),
            ).fetchone()
        assert killed == (4,)

        failures = 0
        for _ in range(8):
            try:
                with engine.connect() as conn:
                    assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
            except sa.exc.OperationalError:
                failures += 1
        # The first stale connection fails its statement; SQLAlchemy then invalidates the
        # pool, so the other three are replaced before use rather than failing in turn.
        assert failures == 1
        assert not set(_held_backends(engine, 4)) & set(pids)
    finally:
        engine.dispose()

"""PostgreSQL helpers shared by every role's start-up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

SCHEMA_LOCK_KEY = 7342001


@contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Serialise schema creation across processes: every role creates what it needs at
    start-up, and concurrent ``CREATE ... IF NOT EXISTS`` races in PostgreSQL's catalogue."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))

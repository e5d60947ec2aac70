"""One process at a time runs a group that follows the log, across the deployment.

A group that reads the notification log has no broker assigning it partitions; two
``policies`` processes started by mistake (or a rolling restart) would both react to
every event, and a command policy's exactly-once rests on one writer per group. The lease
is a PostgreSQL advisory lock held on its own connection: whoever holds it runs the group,
the others wait, and a process that dies releases it with its connection.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)
WAIT_SECONDS = 1.0


class GroupLease:
    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.key = int.from_bytes(hashlib.sha256(f"group:{name}".encode()).digest()[:8], "big",
                                  signed=True)  # fmt: skip

    def holding(self, run: Callable[[threading.Event], None]) -> Callable[[threading.Event], None]:
        """``run`` wrapped so that it starts only once this process holds the lease, and
        gives it up when ``run`` returns (or the process dies)."""

        def leased(stop: threading.Event) -> None:
            with psycopg.connect(self.url, autocommit=True) as conn:
                waited = False
                while not self._try(conn):
                    if not waited:
                        log.info("group %s runs elsewhere; waiting for its lease", self.name)
                        waited = True
                    if stop.wait(WAIT_SECONDS):
                        return
                try:
                    run(stop)
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))

        return leased

    def _try(self, conn: psycopg.Connection[tuple[bool]]) -> bool:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        return bool(row and row[0])

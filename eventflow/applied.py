"""Read-your-writes that is told, not polled.

A write that the SPA reads right after (a profile step, a match request) waits until the
read model it reads has applied the write's event. The process that commits a batch makes
the new position known: in-process to waiters in the same process (the runner calls
:meth:`AppliedPositions.tell` after each commit), and to every other process through a
PostgreSQL ``NOTIFY`` sent inside the batch's own transaction, so it is delivered when,
and only if, the batch commits (``ReadModels.announce``). Waiters sleep on a condition and
wake on those announcements; the database is read once, to learn where a projection
stood before this process heard anything about it.

The alternative, Marten's inline projections (the read model written in the append's own
transaction), was weighed and not taken: see docs/reliability.md ("Read-your-writes").
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar

import psycopg

from eventflow.readmodels import APPLIED_CHANNEL, Member, ReadModels
from eventflow.schema import LOG

log = logging.getLogger(__name__)
RECONNECT_SECONDS = 1.0
LATE_READS: ContextVar[list[str] | None] = ContextVar("late_reads", default=None)
"""Per HTTP request (api/admission.py sets it), the read models whose wait for the
request's write ran out; a list, so that a sync route's worker thread, which runs in a
copy of the request's context, can add to it."""


def note_late_read(projection: str) -> None:
    """``projection`` had not applied this request's write when the wait ran out: the
    answer says so (``X-Read-Your-Writes: late``). Outside a request, nothing."""
    late = LATE_READS.get()
    if late is not None:
        late.append(projection)


class AppliedPositions:
    def __init__(self, read_models: ReadModels, listen_url: str | None = None) -> None:
        self.read_models = read_models
        self.listen_url = listen_url
        """libpq URL of the read-model database (PostgreSQL), whose announcements to hear."""
        self._known: dict[tuple[str, int, int], int] = {}
        self._changed = threading.Condition()
        self._listener: threading.Thread | None = None
        self._listening = threading.Event()
        """Set once LISTEN is in place: a position read from the database before that
        could miss the announcement of a commit made just after the read."""
        self._stop = threading.Event()
        self._waits = itertools.count()
        self._waiting: dict[int, float] = {}
        """Read-your-writes waits in progress in this process: when each began."""
        self._waiting_lock = threading.Lock()

    def behind(self) -> float:
        """Seconds the oldest read-your-writes wait of this process has waited so far:
        how far, at least, the read models are behind the writes this process makes (0
        when none waits). api/admission.py refuses new writes while it passes a bound,
        because a write accepted then would wait at least as long for its read model."""
        with self._waiting_lock:
            started = min(self._waiting.values(), default=None)
        return 0.0 if started is None else time.monotonic() - started

    def tell(self, members: Iterable[Member], partition: int, position: int) -> None:
        """``members`` (name, version) have applied ``partition`` up to ``position``."""
        with self._changed:
            for name, version in members:
                key = (name, version, partition)
                if self._known.get(key, 0) < position:
                    self._known[key] = position
            self._changed.notify_all()

    def wait(self, name: str, partition: int | None, position: int, timeout: float) -> bool:
        """Block until ``name``'s serving version has applied ``position`` in ``partition``
        (``None``: the log), or ``timeout`` seconds; whether it has."""
        wait = next(self._waits)
        with self._waiting_lock:
            self._waiting[wait] = time.monotonic()
        try:
            return self.wait_past(name, partition, position - 1, timeout) >= position
        finally:
            with self._waiting_lock:
                del self._waiting[wait]

    def wait_past(self, name: str, partition: int | None, position: int, timeout: float) -> int:
        """Block until ``name`` has applied something beyond ``position`` in ``partition``,
        or ``timeout`` seconds; how far it has got (a caller waiting for some outcome whose
        position it cannot know looks again each time the read model moves on)."""
        self._listen()
        version = self.read_models.active_version(name)
        part = LOG if partition is None else partition

        def known() -> int:
            return max(self._known.get((name, version, part), 0),
                       self._known.get((name, version, LOG), 0))  # fmt: skip

        with self._changed:
            if known() > position:
                return known()
            heard = (name, version, part) in self._known or (name, version, LOG) in self._known
        if not heard:  # where it stood before anyone told this process
            tracking = self.read_models.tracking(name, version)
            self.tell([(name, version)], part, self.read_models.applied_upto(tracking, part))
        with self._changed:
            self._changed.wait_for(lambda: known() > position, timeout)
            return known()

    # -- other processes ----------------------------------------------------------------
    def _listen(self) -> None:
        if self.listen_url is None or self._listener is not None:
            return
        with self._changed:
            if self._listener is None:
                self._listener = threading.Thread(
                    target=self._follow, name="applied-listener", daemon=True
                )
                self._listener.start()
        self._listening.wait(RECONNECT_SECONDS * 5)

    def _follow(self) -> None:
        """Hear every process's announcements until :meth:`close`; after a lost connection
        forget what was heard (waiters read the database again)."""
        assert self.listen_url is not None
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.listen_url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {APPLIED_CHANNEL}")
                    self._listening.set()
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=RECONNECT_SECONDS):
                            self._heard(notice.payload)
            except psycopg.Error:
                log.warning("lost the read-model announcements; listening again", exc_info=True)
                with self._changed:
                    self._listening.clear()
                    self._known.clear()
                self._stop.wait(RECONNECT_SECONDS)

    def _heard(self, payload: str) -> None:
        partition, position, *members = payload.split()
        pairs = [(name, int(version)) for name, _, version in (m.rpartition(":") for m in members)]
        self.tell(pairs, int(partition), int(position))

    def close(self) -> None:
        self._stop.set()


Told = Callable[[Iterable[Member], int, int], None]

"""The recent end of the notification log, read once per process for all its followers.

Every policy (and, in the embedded mode, every projection) follows the log on its own.
Each used to ask the store for the head and for its page whenever anything was appended,
so in the distributed topology one chat message cost two queries per policy, most of the
policies role's CPU (bench/chat.py counted about 45 PostgreSQL transactions per message).
A ``LogTail`` reads each new page once, on one thread, and keeps the newest events in
memory; a follower inside that window is served from it and woken when it grows, one
further behind (catching up after a restart, a rebuild) reads the store as before.

What a follower gets is exactly what the store would have answered: events after its
position in position order, filtered by topic, and the position up to which it has seen
everything. Appends commit in position order (the recorder serialises them), so a page
read after the head was taken holds every event up to that head.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence

from eventflow.codec import RecordedEvent
from eventflow.store import EventStore

TAIL_EVENTS = 10_000
"""Events kept (between this and twice this): a follower further behind reads the store."""
IDLE_WAIT_SECONDS = 1.0


class LogTail:
    def __init__(self, store: EventStore, batch_size: int, capacity: int = TAIL_EVENTS) -> None:
        self.store = store
        self.batch_size = batch_size
        self.capacity = capacity
        self._events: list[RecordedEvent] = []
        self._positions: list[int] = []
        self._start: int | None = None
        """Every event after this position, up to ``_upto``, is in ``_events`` (None: the
        tail has not read the head yet and serves nobody)."""
        self._upto = 0
        """Every event up to this position has been read."""
        self._grown = threading.Condition()

    def follow(self, stop: threading.Event) -> None:
        """The tail's own thread: read each new page of the log once, until ``stop``."""
        if self._start is None:
            head = self.store.max_position()
            with self._grown:
                self._start = self._upto = head
        while not stop.is_set():
            appends = self.store.appends
            if not self._read_more():
                self.store.wait_for_append(IDLE_WAIT_SECONDS, since=appends)

    def _read_more(self) -> bool:
        """Read the next page; True if it was full (more may be waiting). After a short
        page the tail waits instead of reading again: any later append wakes it (a
        PostgreSQL NOTIFY queued on its listener, or the in-process ``appends`` count),
        and an empty read per append was half of every follower's queries."""
        events, upto = self.store.page(self._upto, self.batch_size)
        if upto <= self._upto:
            return False
        with self._grown:
            self._events += events
            self._positions += [e.position for e in events]
            if len(self._events) > 2 * self.capacity:
                drop = len(self._events) - self.capacity
                self._start = self._positions[drop - 1]
                del self._events[:drop], self._positions[:drop]
            self._upto = upto
            self._grown.notify_all()
        return len(events) == self.batch_size

    def read(
        self, after: int, limit: int, topics: Sequence[str] = ()
    ) -> tuple[list[RecordedEvent], int] | None:
        """Up to ``limit`` events after ``after`` (of ``topics``, if any) and the position up
        to which every event has been seen; None when ``after`` is outside the window."""
        with self._grown:
            if self._start is None or after < self._start:
                return None
            wanted = set(topics)
            found: list[RecordedEvent] = []
            for event in self._events[bisect.bisect_right(self._positions, after) :]:
                if not wanted or event.topic in wanted:
                    found.append(event)
                    if len(found) == limit:
                        return found, event.position
            return found, max(self._upto, after)

    def wait(self, after: int, timeout: float) -> None:
        """Block until the tail has read past ``after``, or the timeout."""
        with self._grown:
            self._grown.wait_for(lambda: self._upto > after, timeout)

"""The one loop that drives every processing group from its event source.

A runner owns one group's subscription: it polls the source (the notification log, or a
Kafka consumer for the group), hands each batch to the group, and commits the source's
offsets once the group has committed. Whatever the group is (projections, command
policies, job dispatchers, live publishers), the loop is the same; what a batch means and
how it is tracked is the group's business (:class:`Applier`).

After a commit the runner tells the process that the group's members have applied up to a
position (read-your-writes waits are woken by it, see ``eventflow.applied``); parked events
are retried on the side; a group that halts (a member that must not skip failed) is rewound
and retried with backoff. When a member's version changes (a rebuild switched it) the
subscription starts again from the earliest member's position.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Protocol

from eventflow.applied import Told
from eventflow.codec import RecordedEvent
from eventflow.groups import Applied, Fetch, Halt
from eventflow.schema import LOG
from eventflow.sources import EventSource

log = logging.getLogger(__name__)
MAINTAIN_SECONDS = 1.0
"""How often a runner lets its group look after parked events and held-back progress."""


class Applier(Protocol):
    """A processing group as the runner sees it."""

    name: str

    @property
    def topics(self) -> list[str]:
        """The topics to read (empty: every event)."""

    @property
    def gather_seconds(self) -> float:
        """How long after a transaction events may gather before the next poll (a longer
        batch window than the configured one, for a group nobody waits for)."""

    def key(self) -> Hashable:
        """Identifies the subscription: when it changes, the source starts again."""

    def assigned(self, partitions: set[int]) -> None:
        """The source now delivers ``partitions`` (Kafka moved them to this process): events
        another process parked for them may be waiting."""

    def start(self) -> dict[int, int]:
        """Per partition, the position after which the source must deliver."""

    def apply(self, partition: int, events: Sequence[RecordedEvent], seen_upto: int) -> Applied:
        """Apply one batch (raises :class:`Halt` to be rewound and retried)."""

    def maintain(self, fetch: Fetch, *, closing: bool = False) -> None:
        """Housekeeping between batches: retry parked events that are due, record
        progress held back (all of it when ``closing``: the subscription is ending)."""


SourceFactory = Callable[[Applier, dict[int, int]], EventSource]


class GroupRunner:
    def __init__(
        self,
        group: Applier,
        sources: SourceFactory,
        fetch: Fetch,
        *,
        poll_seconds: float = 0.5,
        batch_window_seconds: float = 0.0,
        retry_max_seconds: float = 30.0,
        told: Told | None = None,
    ) -> None:
        self.group = group
        self.sources = sources
        self.fetch = fetch
        self.poll_seconds = poll_seconds
        self.batch_window_seconds = batch_window_seconds
        """Poll no sooner than this after a transaction (see :meth:`step`)."""
        self.retry_max_seconds = retry_max_seconds
        self.told = told
        self.applied_at = float("-inf")
        """When this runner's last transaction ended (monotonic)."""
        self.halts = 0
        """Consecutive halts, for the backoff."""
        self.retried_at = 0.0
        self.reached: dict[int, int] = {}
        """Per partition, how far the group's last batch got. A policy group records its
        progress over events it ignores only when it next writes, so its stored position
        (``start``) can trail what it has already seen."""

    def run(self, stop: threading.Event) -> None:
        """Follow the source until ``stop`` is set; start it again when the group's
        subscription changes (a member switched versions)."""
        while not stop.is_set():
            key = self.group.key()
            source = self.sources(self.group, self.group.start())
            try:
                while not stop.is_set() and self.group.key() == key:
                    self.step(source)
            finally:
                source.close()
                self.group.maintain(self.fetch, closing=True)

    def step(self, source: EventSource) -> int:
        """One poll: apply what arrived; returns how many events the group applied.

        A runner that has just written waits out the rest of its batch window first: under
        load the events of that window then share one transaction rather than taking one
        each; an idle runner polls at once, so a lone event is not delayed."""
        rest = self.applied_at + self.batch_window_seconds - time.monotonic()
        if rest > 0:
            time.sleep(rest)
        applied = 0
        for partition, events, seen_upto in source.poll(self.poll_seconds):
            applied += self._apply(source, partition, events, seen_upto)
        if time.monotonic() - self.retried_at >= MAINTAIN_SECONDS:
            self.retried_at = time.monotonic()
            self.group.maintain(self.fetch)
        return applied

    def _apply(
        self, source: EventSource, partition: int, events: list[RecordedEvent], seen_upto: int
    ) -> int:
        try:
            done = self.group.apply(partition, events, seen_upto)
        except Halt as halt:
            self.halts += 1
            log.error("group %s halted at position %d (attempt %d): %r", self.group.name,
                      halt.event.position, self.halts, halt.error)  # fmt: skip
            at = next(i for i, e in enumerate(events) if e.position == halt.event.position)
            source.committed(partition, events[:at])
            source.rewind(partition, events[at:])
            time.sleep(min(0.05 * 2**self.halts, self.retry_max_seconds))
            return 0
        self.halts = 0
        self.reached[partition] = max(self.reached.get(partition, 0), done.position)
        source.committed(partition, events)
        if sum(done.applied.values()):
            self.applied_at = time.monotonic()
        if done.members and self.told is not None:
            self.told(done.members, partition, done.position)
        return sum(done.applied.values())

    def catch_up(
        self, source: EventSource, head: int, on_step: Callable[[int], None] | None = None
    ) -> None:
        """Apply until every member has applied the log up to ``head`` (rebuilds, tests,
        benchmarks, the demo seed), then record the progress a policy group holds back;
        ``on_step`` hears the position reached after each step."""
        position = self.group.start().get(LOG, 0)
        while position < head:
            self.step(source)
            position = max(position, self.reached.get(LOG, 0))
            if on_step is not None:
                on_step(position)
        self.group.maintain(self.fetch, closing=True)

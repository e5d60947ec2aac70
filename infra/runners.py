"""Runners that drive projections (and policies) from an event source.

A runner owns one projection's active version. It polls its source, applies each batch with
its tracking in one transaction, and treats a failing event as data, not as a crash: the
failure is recorded (which event, which error), surfaced in ``projections status`` and the
metrics, and retried with exponential backoff until a retry succeeds or an operator asks to
skip that event. Nothing is ever dropped silently.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from infra.event_store import RecordedEvent
from infra.metrics import PROJECTION_ERRORS, PROJECTION_EVENTS, PROJECTION_POSITION
from infra.sources import EventSource
from projections.engine import LOG, Projection, ReadModels

log = logging.getLogger(__name__)
DEFERRED_TRACKING_SECONDS = 0.5
"""How long progress over events a projection ignores may go unrecorded while more keep
coming (an idle source records it at once)."""
SourceFactory = Callable[[Projection, int, dict[int, int]], EventSource]


class ProjectionRunner:
    def __init__(
        self,
        read_models: ReadModels,
        projection: Projection,
        source_factory: SourceFactory,
        *,
        poll_seconds: float = 0.5,
        batch_window_seconds: float = 0.0,
        retry_max_seconds: float = 30.0,
        version: int | None = None,
        after_commit: Callable[[list[RecordedEvent]], None] | None = None,
    ) -> None:
        self.read_models = read_models
        self.projection = projection
        self.source_factory = source_factory
        self.poll_seconds = poll_seconds
        self.batch_window_seconds = batch_window_seconds
        """Poll no sooner than this after a transaction (see :meth:`step`)."""
        self.applied_at = float("-inf")
        """When this runner's last transaction over handled events ended (monotonic)."""
        self.retry_max_seconds = retry_max_seconds
        self.pinned_version = version
        self.after_commit = after_commit
        """Told each committed batch (to refresh a cache kept outside the read models); its
        failures are logged, never held against the batch."""
        self.failing: dict[int, int] = {}
        """Failing position -> attempts, for backoff and for marking resolution."""
        self.deferred: dict[int, int] = {}
        """Partition -> position passed over events this projection does not handle, not
        yet written to its tracking (see :meth:`_pass_over`)."""
        self.uncommitted: dict[int, list[RecordedEvent]] = {}
        """Partition -> the last passed-over events, committed to the source only once
        their tracking is written (a source resuming beyond its tracking would look like
        one that lost records)."""
        self.recorded_at = 0.0

    def _version(self) -> int:
        if self.pinned_version is not None:
            return self.pinned_version
        return self.read_models.active_version(self.projection.name)

    def run(self, stop: threading.Event) -> None:
        """Follow the source until ``stop`` is set; switches sources when a rebuild switches
        the active version."""
        while not stop.is_set():
            version = self._version()
            tracking = self.read_models.tracking(self.projection.name, version)
            source = self.source_factory(self.projection, version, tracking)
            # Progress passed over belongs to the previous version's source.
            self.deferred.clear()
            self.uncommitted.clear()
            try:
                while not stop.is_set() and self._version() == version:
                    self.step(source, version)
            finally:
                source.close()

    def step(self, source: EventSource, version: int) -> int:
        """One poll: apply what arrived; returns how many events were applied.

        A runner that has just written waits out the rest of its batch window first: under
        load the events of that window then share one transaction (per partition) rather
        than taking one each, which was most of a projector's and of PostgreSQL's CPU at
        chat rates; an idle runner polls at once, so a lone event is not delayed."""
        rest = self.applied_at + self.batch_window_seconds - time.monotonic()
        if rest > 0:
            time.sleep(rest)
        applied = 0
        batches = source.poll(self.poll_seconds)
        for partition, events, seen_upto in batches:
            if self.failing or any(self.projection.handles(e.topic) for e in events):
                applied += self._apply(source, version, partition, events, seen_upto)
                self.deferred.pop(partition, None)
                self.uncommitted.pop(partition, None)
                self.applied_at = time.monotonic()
            else:
                self._pass_over(source, partition, events, seen_upto)
        if self.deferred and (
            not batches or time.monotonic() - self.recorded_at >= DEFERRED_TRACKING_SECONDS
        ):
            self.read_models.record_progress(self.projection, version, self.deferred)
            for partition in self.deferred:
                source.committed(partition, self.uncommitted.pop(partition, []))
            self.deferred.clear()
            self.recorded_at = time.monotonic()
        return applied

    def _pass_over(
        self, source: EventSource, partition: int, events: list[RecordedEvent], seen_upto: int
    ) -> None:
        """Events this projection has no handler for change nothing but its tracking. Most
        of every projector's stream is like that (each follows every event), and a
        transaction per batch of them was most of its cost; their progress is recorded
        at most every ``DEFERRED_TRACKING_SECONDS``, or at once when the source goes idle or
        a handled event's transaction records it anyway. A crash in between only makes the
        projector read these events again, which still changes nothing."""
        position = max(seen_upto, events[-1].position if events else 0)
        if position:
            self.deferred[partition] = max(self.deferred.get(partition, 0), position)
        if events:
            self.uncommitted[partition] = events[-1:]

    def _apply(
        self,
        source: EventSource,
        version: int,
        partition: int,
        events: list[RecordedEvent],
        seen_upto: int,
    ) -> int:
        name = self.projection.name
        skips = self.read_models.skip_requests(name, version) if self.failing else frozenset()
        result = self.read_models.apply_batch(
            self.projection, version, partition, events, skip_positions=skips, seen_upto=seen_upto
        )
        done = len(result.positions) + result.skipped_duplicates
        source.committed(partition, events[:done])
        if result.applied:
            PROJECTION_EVENTS.labels(name).inc(result.applied)
            if self.after_commit is not None:
                try:
                    self.after_commit(events[:done])
                except Exception:
                    log.warning("after-commit hook of %s failed", name, exc_info=True)
        if result.last_position:
            PROJECTION_POSITION.labels(name, str(partition)).set(result.last_position)
        settled = [p for p in self.failing if p <= result.last_position]
        if settled:
            self.read_models.mark_errors(
                name, version, [p for p in settled if p not in skips], "resolved"
            )
            self.read_models.mark_errors(
                name, version, [p for p in settled if p in skips], "skipped"
            )
            for position in settled:
                del self.failing[position]
        if result.poison is not None:
            poison = result.poison
            position = poison.event.position
            self.read_models.record_error(name, version, poison)
            attempts = self.failing[position] = self.failing.get(position, 0) + 1
            PROJECTION_ERRORS.labels(name).inc()
            log.error(
                "projection %s v%d cannot apply position %d (%s), attempt %d: %r",
                name,
                version,
                position,
                poison.event.topic,
                attempts,
                poison.error,
            )
            source.rewind(partition, events[done:])
            time.sleep(min(0.05 * 2**attempts, self.retry_max_seconds))
        return result.applied

    def catch_up(
        self,
        source: EventSource,
        version: int,
        head: int,
        on_step: Callable[[int], None] | None = None,
    ) -> None:
        """Apply until the log position ``head`` is reached (rebuilds, tests, benchmarks);
        ``on_step`` hears the position reached after each batch (a progress bar)."""
        name = self.projection.name
        while (reached := self.read_models.tracking(name, version).get(LOG, 0)) < head:
            if on_step is not None:
                on_step(reached)
            self.step(source, version)

"""Decoded aggregate histories kept between commands, so that loading an aggregate reads
only the events appended since this process last loaded it.

A command loads its aggregate by replaying the aggregate's whole history; without this, each
load reads every row again and pays JSON parsing, upcasting, validation and decryption for
each (the larger part of a profile write in the embedded benchmark). What is kept is the
list of decoded events, not the aggregate: events are immutable, so a command that mutates
its aggregate and then fails (a conflict, a refused rule) cannot leave a wrong state behind,
and the next load still asks the store for anything newer, so an append made by another
process is never missed.

Decoded events hold decrypted personal fields, which crypto-shredding must not outlive.
An entry is served only while this process's key cache still holds a key for every subject
whose data it decrypted (:meth:`PersonalDataCipher.can_decrypt`). A key destroyed in this
process is seen at once; one destroyed in another process when the key cache refreshes,
the same window in which this process would decrypt that subject's ciphertext anyway. An
entry also expires with the key cache's period after it was last filled, so plaintext is
not kept in memory longer than the key it came from.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from uuid import UUID

from cachetools import TTLCache

from domain.events import DomainEvent
from infra.keystore import CACHE_SECONDS, PersonalDataCipher


@dataclass(frozen=True)
class History:
    """An aggregate's events up to ``version``, decoded, and the subjects they decrypted."""

    events: tuple[DomainEvent, ...]
    subjects: frozenset[str]

    @property
    def version(self) -> int:
        return self.events[-1].meta.version if self.events else 0


def _size(history: History) -> int:
    return max(1, len(history.events))


class Histories:
    """At most ``max_events`` decoded events over all aggregates, least recently used out
    first; ``max_events=0`` keeps nothing."""

    def __init__(self, max_events: int, cipher: PersonalDataCipher | None) -> None:
        self.cipher = cipher
        self._entries: TTLCache[UUID, History] | None = (
            TTLCache(maxsize=max_events, ttl=CACHE_SECONDS, getsizeof=_size) if max_events else None
        )
        self._lock = threading.Lock()

    def get(self, aggregate_id: UUID) -> History | None:
        if self._entries is None:
            return None
        with self._lock:
            history = self._entries.get(aggregate_id)
        if history is None:
            return None
        if self.cipher is not None and not all(map(self.cipher.can_decrypt, history.subjects)):
            with self._lock:
                self._entries.pop(aggregate_id, None)
            return None
        return history

    def extend(
        self, aggregate_id: UUID, known: History | None, new: Sequence[DomainEvent]
    ) -> History:
        """``known`` followed by ``new`` (read after ``known``), kept unless a longer history
        of the aggregate was kept meanwhile by another thread."""
        events = (*known.events, *new) if known else tuple(new)
        subjects = {e.subject() for e in new if e.personal_fields()}
        history = History(events, (known.subjects if known else frozenset()) | subjects)
        if self._entries is None or not new:
            return history
        with self._lock:
            kept = self._entries.get(aggregate_id)
            if kept is None or kept.version < history.version:
                with suppress(ValueError):  # one history longer than the whole cache
                    self._entries[aggregate_id] = history
        return history

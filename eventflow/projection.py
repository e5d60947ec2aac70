"""What a projection is: a named read model with versioned tables and one small handler per
event type (or one raw handler of every event, in the log's order).

Every projection module has one shape (``Projection``, ``@tables``, ``@on``, then its
queries); the engine that applies them lives beside this module (``buffer``, ``readmodels``,
``groups``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from domain.events import DomainEvent
from eventflow.codec import RecordedEvent

if TYPE_CHECKING:
    from eventflow.buffer import ProjectionTx

Handler = Callable[[Any, "ProjectionTx"], None]
RawHandler = Callable[[RecordedEvent, "ProjectionTx"], None]
TableBuilder = Callable[[sa.MetaData, Callable[[str], str]], None]


class Projection:
    """A named read model: versioned tables plus handlers keyed by event type."""

    def __init__(self, name: str, *, gather_seconds: float = 0.0) -> None:
        self.name = name
        self.gather_seconds = gather_seconds
        """How long after a transaction its group may let events gather before the next
        one. Zero for a read model a request waits for (read-your-writes); a read model
        nobody reads right after a write takes larger, cheaper batches under load."""
        self.handlers: dict[str, Handler] = {}
        self._builders: list[TableBuilder] = []
        self._tables: dict[int, dict[str, sa.Table]] = {}
        self.raw: RawHandler | None = None
        """A handler of every stored event, undecoded, in the log's global order (the audit
        hash chain): such a projection always reads the event log, never Kafka, whose
        partitions each keep only their own order."""

    def tables(self, builder: TableBuilder) -> TableBuilder:
        """Decorator: ``builder(metadata, name)`` defines tables named ``name("base")``."""
        self._builders.append(builder)
        return builder

    def on(self, *event_types: type[DomainEvent]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for event_type in event_types:
                if event_type.topic in self.handlers:
                    raise ValueError(f"{self.name}: two handlers for {event_type.topic}")
                self.handlers[event_type.topic] = handler
            return handler

        return register

    def on_every(self, handler: RawHandler) -> RawHandler:
        """Decorator: ``handler(recorded, tx)`` for every event, in global order."""
        if self.handlers or self.raw is not None:
            raise ValueError(f"{self.name}: a raw handler must be the projection's only one")
        self.raw = handler
        return handler

    @property
    def ordered(self) -> bool:
        return self.raw is not None

    def handles(self, topic: str) -> bool:
        return self.raw is not None or topic in self.handlers

    @property
    def topics(self) -> list[str]:
        """The topics to read (empty: all of them)."""
        return sorted(self.handlers)

    @property
    def fingerprint(self) -> str | None:
        """What a version's data depends on besides handler code: the table definitions and
        the topics handled. When it changes, existing tables are stale (a new column, or
        history of a newly handled topic that was never applied) and need a rebuild.
        ``None`` for a projection without tables (a policy must never replay history)."""
        tables = self.tables_for(0)
        if not tables:
            return None
        digest = hashlib.sha256()
        for table in tables.values():
            digest.update(str(CreateTable(table)).encode())
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                digest.update(str(CreateIndex(index)).encode())
        digest.update("\n".join(self.topics).encode())
        return digest.hexdigest()[:16]

    def tables_for(self, version: int) -> dict[str, sa.Table]:
        """The Table objects of one version, keyed by base name."""
        if version not in self._tables:
            metadata = sa.MetaData()
            names: dict[str, str] = {}

            def versioned(base: str) -> str:
                names[f"{base}_v{version}"] = base
                return f"{base}_v{version}"

            for builder in self._builders:
                builder(metadata, versioned)
            self._tables[version] = {names[t.name]: t for t in metadata.sorted_tables}
        return self._tables[version]

"""Audit tools over the event log: one user's trail, and the hash-chain verification.

**Trail**: everything a user did (events whose actor is the user) and everything done to
their data (events of their account, or whose payload names them: a partner's request, a
message in their room, an operator's role grant). Only positions, times, topics, actors and
the relation are listed, never payloads, so the trail itself leaks nothing.

**Verify**: recomputes every event's digest and the chain (``projections/audit.py``) and
merges them with the sealed rows by position. See that module for what each finding means.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa

from eventflow.codec import RecordedEvent
from eventflow.readmodels import ReadModels
from eventflow.store import EventStore
from projections.audit import GENESIS, audit, digest_of, link

PAGE = 5_000
MAX_FINDINGS = 100


def _names(value: Any, user_id: str) -> bool:
    if isinstance(value, str):
        return value == user_id
    if isinstance(value, dict):
        return any(_names(v, user_id) for v in value.values())
    if isinstance(value, list):
        return any(_names(v, user_id) for v in value)
    return False


def trail(store: EventStore, user_id: str) -> Iterator[dict[str, Any]]:
    """The user's trail in log order (a full scan; it is an investigation tool)."""
    account = UUID(user_id) if _is_uuid(user_id) else None
    for event in store.read_all(batch=PAGE):
        document = orjson.loads(event.state)
        meta = document["meta"]
        if meta.get("actor_id") == user_id:
            relation = "by"
        elif event.aggregate_id == account or _names(document["data"], user_id):
            relation = "about"
        else:
            continue
        yield {"position": event.position, "at": meta["occurred_at"], "topic": event.topic,
               "actor": meta.get("actor_id"), "relation": relation,
               "correlation_id": meta["correlation_id"],
               "causation_id": meta.get("causation_id")}  # fmt: skip


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


@dataclass
class Verification:
    checked: int = 0
    sealed_upto: int = 0
    unsealed: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def found(self, position: int, kind: str, detail: str) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append({"position": position, "kind": kind, "detail": detail})

    def report(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "sealed_upto": self.sealed_upto,
                "unsealed": self.unsealed, "findings": self.findings}  # fmt: skip


def _sealed(read_models: ReadModels) -> Iterator[tuple[int, str, str]]:
    table = read_models.table(audit, "audit_chain")
    after = -1
    while True:
        with read_models.reads() as conn:
            rows = conn.execute(
                sa.select(table.c.position, table.c.digest, table.c.chain)
                .where(table.c.position > after)
                .order_by(table.c.position)
                .limit(PAGE)
            ).all()
        if not rows:
            return
        for row in rows:
            yield int(row.position), str(row.digest), str(row.chain)
        after = int(rows[-1].position)


def _heard(
    events: Iterator[RecordedEvent], on_event: Callable[[int], None]
) -> Iterator[RecordedEvent]:
    for event in events:
        on_event(event.position)
        yield event


def verify(
    store: EventStore, read_models: ReadModels, on_event: Callable[[int], None] | None = None
) -> Verification:
    """Merge the log with the seal by position and report every disagreement;
    ``on_event`` hears the position of each event as it is checked (a progress bar)."""
    result = Verification()
    seals = _sealed(read_models)
    events: Iterator[RecordedEvent] = store.read_all(batch=PAGE)
    if on_event is not None:
        events = _heard(events, on_event)
    seal, event = next(seals, None), next(events, None)
    chain = GENESIS
    while seal is not None or event is not None:
        if event is not None and (seal is None or event.position < seal[0]):
            if seal is None and event.position > result.sealed_upto:
                result.unsealed += 1  # not sealed yet: the projector is behind
            else:
                result.found(event.position, "inserted", "in the log but never sealed: "
                             "added below the sealed head")  # fmt: skip
            result.checked += 1
            event = next(events, None)
            continue
        assert seal is not None
        position, digest, sealed_chain = seal
        chain = link(chain, digest)
        if sealed_chain != chain:
            result.found(position, "seal_broken", "the chain table itself was changed")
            chain = sealed_chain
        if event is None or event.position > position:
            result.found(position, "removed", "sealed, but no longer in the log")
        else:
            if digest_of(event) != digest:
                result.found(position, "altered", f"{event.topic} differs from what was sealed")
            result.checked += 1
            event = next(events, None)
        result.sealed_upto = position
        seal = next(seals, None)
    return result

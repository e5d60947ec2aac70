"""The audit hash chain: a seal over every stored event, in the log's global order.

Each event's digest covers what identifies and constitutes it (position, aggregate,
version, topic and the stored document byte for byte); each chain value links the previous
one with that digest. ``languagemate audit verify`` recomputes both from the event store
and names the first position where the log and the seal disagree: an altered event (its
digest differs), a removed one (sealed, no longer in the log) or one inserted after
sealing (in the log below the sealed head, never sealed). The chain lives in the
read-model database, apart from the event store, so rewriting history means forging two
stores consistently; anchoring the head hash elsewhere (a log line, a ticket) closes the
rest of that gap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import sqlalchemy as sa

from eventflow.buffer import ProjectionTx
from eventflow.codec import RecordedEvent
from eventflow.projection import Projection

GENESIS = "0" * 64
audit = Projection("audit_chain", gather_seconds=0.25)
"""No request reads the seal right after a write, so under load a quarter of a second's
events share one transaction and one read of the chain's head (one or two per batch made
the seal a tenth of the embedded server's busy time)."""


@audit.tables
def _tables(metadata: sa.MetaData, name: Callable[[str], str]) -> None:
    sa.Table(
        name("audit_chain"),
        metadata,
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("chain", sa.String(64), nullable=False),
    )


def digest_of(event: RecordedEvent) -> str:
    head = f"{event.position}\n{event.aggregate_id}\n{event.version}\n{event.topic}\n"
    return hashlib.sha256(head.encode() + event.state).hexdigest()


def link(previous: str, digest: str) -> str:
    return hashlib.sha256(f"{previous}{digest}".encode()).hexdigest()


@audit.on_every
def _seal(event: RecordedEvent, tx: ProjectionTx) -> None:
    previous = tx.memo.get("chain")
    if previous is None:
        table = tx.table("audit_chain")
        last = tx.execute(
            sa.select(table.c.chain).order_by(table.c.position.desc()).limit(1)
        ).scalar()
        previous = last or GENESIS
    digest = digest_of(event)
    chain = tx.memo["chain"] = link(previous, digest)
    tx.insert("audit_chain", {"position": event.position, "digest": digest, "chain": chain})

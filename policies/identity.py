"""Reactions of the identity context (kinds and guarantees: ``policies.base``)."""

from __future__ import annotations

from domain.identity import (
    AccountDeleted,
)
from policies.base import JobDispatcher, PolicyContext

shredder = JobDispatcher("identity.shredder")
"""Destroys a deleted account's key. The API destroys it at once too; this policy makes the
erasure certain even if that process died between the event and the key deletion."""


@shredder.when(AccountDeleted)
def _shred(event: AccountDeleted, policy: PolicyContext) -> None:
    cipher = policy.bus.store.cipher
    if cipher is not None:
        cipher.keys.destroy(str(event.aggregate_id))

"""System events: facts about the running system rather than about users.

``CommandHandled`` is appended in the same transaction as a command's own events when the
command carries an idempotency key. Its aggregate id is derived from the key, so a repeated
key collides on version 1 and the store itself rejects the duplicate: no separate table, no
window between "events saved" and "key remembered".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from domain.aggregate import Aggregate, Cause, applies
from domain.events import DomainEvent


class CommandHandled(DomainEvent):
    topic = "system.CommandHandled"

    command: str = Field(max_length=100)
    outcome: dict[str, Any]


class HandledCommand(Aggregate):
    """The one-event stream that remembers an idempotency key and the first outcome."""

    def handled(self, cause: Cause, *, command: str, outcome: Mapping[str, Any]) -> None:
        self._record(CommandHandled, cause, command=command, outcome=dict(outcome))

    @applies(CommandHandled)
    def _handled(self, event: CommandHandled) -> None:
        pass

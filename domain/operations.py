"""Operations: what operators did to the running system, recorded like any other fact.

Rebuilding a read model or skipping an event a projection cannot apply changes what users
see, so each is an event with its actor (``operator:<login>``) in one stream, next to the
role grants (``identity.RoleGranted``) and account deletions already in the log. The audit
trail and the hash chain cover them like everything else.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from pydantic import Field

from domain.aggregate import Aggregate, Cause, applies
from domain.events import DomainEvent

OPERATIONS_ID = uuid5(UUID("6f1c2a53-8a0e-4c55-9d7b-0f3e2b6c1d94"), "operations")
"""The one stream of operator actions (they are rare, so one stream costs no contention)."""


class ProjectionRebuilt(DomainEvent):
    topic = "operations.ProjectionRebuilt"

    projection: str = Field(max_length=60)
    to_version: int = Field(ge=1)
    from_version: int = Field(ge=0)


class PoisonEventSkipped(DomainEvent):
    """An operator told a projection to pass over an event it kept failing on."""

    topic = "operations.PoisonEventSkipped"

    projection: str = Field(max_length=60)
    position: int = Field(ge=1)


class Operations(Aggregate):
    def rebuilt(self, cause: Cause, *, projection: str, version: int, previous: int) -> None:
        self._record(ProjectionRebuilt, cause, projection=projection, to_version=version,
                     from_version=previous)  # fmt: skip

    def skipped(self, cause: Cause, *, projection: str, position: int) -> None:
        self._record(PoisonEventSkipped, cause, projection=projection, position=position)

    @applies(ProjectionRebuilt, PoisonEventSkipped)
    def _noted(self, event: DomainEvent) -> None:
        pass

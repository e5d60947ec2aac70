"""Recording operator actions (see ``domain/operations.py``)."""

from __future__ import annotations

from typing import Any

from commands.base import CommandBus, CommandContext, Outcome, UnitOfWork
from domain.operations import OPERATIONS_ID, Operations


def record_rebuild(
    bus: CommandBus, ctx: CommandContext, *, projection: str, version: int, previous: int
) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        uow.load(Operations, OPERATIONS_ID).rebuilt(uow.cause, projection=projection,
                                                    version=version, previous=previous)  # fmt: skip
        return {"projection": projection, "version": version}

    return bus.run("operations.RecordRebuild", ctx, decide)


def record_skip(bus: CommandBus, ctx: CommandContext, *, projection: str, position: int) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        uow.load(Operations, OPERATIONS_ID).skipped(uow.cause, projection=projection,
                                                    position=position)  # fmt: skip
        return {"projection": projection, "position": position}

    return bus.run("operations.RecordSkip", ctx, decide)

"""Time travel: any aggregate's state as it was at a version or at a moment.

The aggregate's own events, up to the version (or up to the time), are folded by the
aggregate's own code, exactly as a command would load it then. The class is found from the
events: the one aggregate type that applies all of them. Secrets (password hashes, 2FA
secrets, tokens) are never shown; personal data reads as erased once its key is gone.
"""

from __future__ import annotations

import re
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

import domain.catalog  # noqa: F401  (imports every context, so every aggregate type exists)
from domain.aggregate import Aggregate
from eventflow.store import EventStore

SECRET = re.compile(r"password|secret|token|hash|jti|key", re.IGNORECASE)
HIDDEN = "[secret]"


class NoSuchAggregate(LookupError):
    pass


def _aggregate_types() -> list[type[Aggregate]]:
    found: list[type[Aggregate]] = []
    pending = list(Aggregate.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def state_at(
    store: EventStore, aggregate_id: UUID, *, version: int | None = None, at: datetime | None = None
) -> dict[str, Any]:
    """``{"type", "id", "version", "as_of", "state"}`` of the aggregate then."""
    events = store.history(aggregate_id)
    if not events:
        raise NoSuchAggregate(f"no aggregate {aggregate_id}")
    kept = [
        e
        for e in events
        if (version is None or e.meta.version <= version)
        and (at is None or e.meta.occurred_at <= at)
    ]
    topics = {type(e) for e in events}
    owner = next((c for c in _aggregate_types() if topics <= set(c.handled_events())), None)
    if owner is None:
        raise NoSuchAggregate(f"no aggregate type applies the events of {aggregate_id}")
    aggregate = owner.replay(aggregate_id, kept)
    return {
        "type": owner.__name__,
        "id": str(aggregate_id),
        "version": aggregate.version if aggregate else 0,
        "latest_version": events[-1].meta.version,
        "as_of": kept[-1].meta.occurred_at.isoformat() if kept else None,
        "state": _plain(aggregate) if aggregate else None,
    }


def _plain(aggregate: Aggregate) -> dict[str, Any]:
    """Its fields: class-level defaults (state no event has set yet) overlaid by what the
    events set on the instance."""
    fields: dict[str, Any] = {}
    for cls in reversed(type(aggregate).__mro__):
        fields.update(
            {
                name: value
                for name, value in vars(cls).items()
                if not callable(value)
                and not isinstance(value, (classmethod, staticmethod, property))
            }
        )
    fields.update(vars(aggregate))
    return {
        name: HIDDEN if SECRET.search(name) and value else _json(value)
        for name, value in sorted(fields.items())
        if name not in ("pending", "id", "version") and not name.startswith("_")
    }


def _json(value: Any) -> Any:
    """Aggregate state as JSON values (models, dataclasses, collections, times, ids)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset, list, tuple)):
        items = [_json(v) for v in value]
        return items if isinstance(value, (list, tuple)) else sorted(items, key=str)
    if isinstance(value, (datetime, date, UUID)):
        return str(value) if isinstance(value, UUID) else value.isoformat()
    return value

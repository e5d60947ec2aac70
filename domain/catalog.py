"""The event catalogue: every event type, its schema version and JSON Schema.

Importing the context modules here registers their events, so the catalogue is complete by
construction; a test checks that every ``DomainEvent`` subclass in ``domain`` is listed.
"""

from __future__ import annotations

from typing import Any

import domain.achievements
import domain.chat
import domain.group_sessions
import domain.identity
import domain.level_tests
import domain.matching
import domain.notifications
import domain.operations
import domain.profile_embeddings
import domain.profiles
import domain.push_devices
import domain.rooms
import domain.sessions
import domain.system
from domain.events import registry

CONTEXT_MODULES = (
    domain.achievements,
    domain.chat,
    domain.group_sessions,
    domain.identity,
    domain.level_tests,
    domain.matching,
    domain.notifications,
    domain.operations,
    domain.profile_embeddings,
    domain.profiles,
    domain.push_devices,
    domain.rooms,
    domain.sessions,
    domain.system,
)


def catalog() -> list[dict[str, Any]]:
    return [
        {
            "topic": cls.topic,
            "schemaVersion": cls.schema_version,
            "description": (cls.__doc__ or "").strip() or None,
            "schema": cls.payload_schema(),
        }
        for cls in registry
    ]

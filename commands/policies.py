"""Every policy the ``policies`` role runs (each context adds its own here)."""

from __future__ import annotations

from infra.policies import Policy

POLICIES: list[Policy] = []

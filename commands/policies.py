"""Every policy the ``policies`` role runs (each context adds its own here)."""

from __future__ import annotations

from commands.achievements import tracker
from commands.chat import live, rooms_for_matches
from commands.identity import shredder
from commands.level_tests import pipeline, results
from commands.matching import embedder
from commands.notifications import notifier, pusher, web_pusher
from infra.policies import Policy

POLICIES: list[Policy] = [
    shredder, embedder, rooms_for_matches, live, notifier, pusher, web_pusher, pipeline, results,
    tracker,
]  # fmt: skip

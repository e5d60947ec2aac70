"""Every projection the backend runs, in one list (the CLI and runtime read it)."""

from __future__ import annotations

from eventflow.projection import Projection
from projections.achievements import achievements
from projections.analytics import analytics
from projections.audit import audit
from projections.chat import chat
from projections.identity import accounts
from projections.level_tests import level_tests
from projections.matching import matching
from projections.notifications import notifications
from projections.platform_metrics import platform
from projections.profiles import profiles
from projections.rooms import rooms
from projections.sessions import sessions

PROJECTIONS: list[Projection] = [
    accounts, profiles, matching, chat, notifications, rooms, sessions, level_tests, audit,
    platform, analytics, achievements,
]  # fmt: skip

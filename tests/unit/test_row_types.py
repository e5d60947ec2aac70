"""Each read-model row type says what its table holds.

The query helpers hand rows over as the ``TypedDict`` a projection declares next to its
table, unchecked (``eventflow.queries.as_row``); mypy then trusts the declaration at every
use. A column added, renamed or made nullable without its row type would make those checks
wrong, so the declarations are held to the tables here.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import pytest
import sqlalchemy as sa

from eventflow.projection import Projection
from projections import (
    achievements,
    analytics,
    chat,
    identity,
    level_tests,
    matching,
    notifications,
    profiles,
    rooms,
    sessions,
)

ROW_TYPES: list[tuple[Projection, str, type[Any]]] = [
    (achievements.achievements, "user_achievements", achievements.AchievementRow),
    (analytics.analytics, "match_events", analytics.MatchEventRow),
    (chat.chat, "chat_rooms", chat.ChatRoomRow),
    (chat.chat, "chat_participants", chat.ParticipantRow),
    (chat.chat, "chat_messages", chat.MessageRow),
    (identity.accounts, "accounts", identity.AccountRow),
    (identity.accounts, "login_history", identity.LoginRow),
    (level_tests.level_tests, "level_tests", level_tests.LevelTestRow),
    (matching.matching, "match_requests", matching.MatchRequestRow),
    (matching.matching, "matches", matching.MatchRow),
    (notifications.notifications, "notifications", notifications.NotificationRow),
    (notifications.notifications, "push_devices", notifications.PushDeviceRow),
    (profiles.profiles, "profiles", profiles.ProfileRow),
    (rooms.rooms, "rooms", rooms.RoomRow),
    (sessions.sessions, "sessions", sessions.SessionRow),
    (sessions.sessions, "group_sessions", sessions.GroupSessionRow),
]


def _python_types(hint: Any) -> set[type[Any]]:
    """The runtime types a column's annotation allows, None left out."""
    found: set[type[Any]] = set()
    for arg in typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,):
        if arg is type(None):
            continue
        if typing.get_origin(arg) is Literal:
            found |= {type(value) for value in typing.get_args(arg)}
        else:
            found.add(typing.get_origin(arg) or arg)
    return found


@pytest.mark.parametrize(
    ("projection", "table", "row_type"), ROW_TYPES, ids=[t for _, t, _ in ROW_TYPES]
)
def test_a_row_type_has_its_tables_columns_types_and_nulls(
    projection: Projection, table: str, row_type: type[Any]
) -> None:
    columns = projection.tables_for(1)[table].columns
    hints = typing.get_type_hints(row_type)
    assert list(hints) == list(columns.keys())
    for column in columns:
        hint = hints[column.name]
        nullable = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
        assert nullable == bool(column.nullable), column.name
        if not isinstance(column.type, sa.JSON):  # JSON's shape is the events', not SQL's
            assert _python_types(hint) == {column.type.python_type}, column.name

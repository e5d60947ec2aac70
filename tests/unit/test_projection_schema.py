"""Projection fingerprints: what makes existing read-model tables stale."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from domain.identity import AccountDeleted, AccountRegistered
from eventflow.buffer import ProjectionTx
from eventflow.projection import Projection


def _projection(*, extra_column: bool = False, topics: int = 1) -> Projection:
    projection = Projection("people")

    @projection.tables
    def _tables(metadata: sa.MetaData, name: Callable[[str], str]) -> None:
        columns = [sa.Column("user_id", sa.String(36), primary_key=True)]
        if extra_column:
            columns.append(sa.Column("nickname", sa.String(20)))
        sa.Table(name("people"), metadata, *columns)

    def handle(event: object, tx: ProjectionTx) -> None:
        pass

    for event_type in (AccountRegistered, AccountDeleted)[:topics]:
        projection.on(event_type)(handle)
    return projection


def test_same_definition_same_fingerprint() -> None:
    assert _projection().fingerprint == _projection().fingerprint


def test_a_new_column_or_a_newly_handled_topic_changes_it() -> None:
    base = _projection().fingerprint
    assert _projection(extra_column=True).fingerprint != base
    assert _projection(topics=2).fingerprint != base  # history of the new topic is missing


def test_projections_without_tables_have_none() -> None:
    assert Projection("policy.anything").fingerprint is None


def test_no_two_projections_share_a_table_name() -> None:
    """Table names are global in the read-model database: a clash would mix two read models
    (platform_metrics once named a table like matching's ``match_requests``)."""
    from projections.catalog import PROJECTIONS

    names = [table.name for p in PROJECTIONS for table in p.tables_for(1).values()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)

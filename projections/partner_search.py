"""Partner search over the matching projection's candidate index (its tables and why they
carry copies are described in ``projections.matching``): which users a search finds and how
many, before ``domain.ranking`` orders them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from eventflow.readmodels import ReadModels
from projections.matching import matching


def excluded_for(read_models: ReadModels, user_id: str) -> set[str]:
    """Users a search must never show: blocked either way, or already matched."""
    blocks = read_models.table(matching, "blocks")
    matches = read_models.table(matching, "matches")
    with read_models.reads() as conn:
        blocked = conn.execute(
            sa.select(blocks.c.blocked_id)
            .where(blocks.c.blocker_id == user_id)
            .union(sa.select(blocks.c.blocker_id).where(blocks.c.blocked_id == user_id))
        ).scalars()
        matched = conn.execute(
            sa.select(matches.c.user_a, matches.c.user_b).where(
                matches.c.active.is_(True),
                sa.or_(matches.c.user_a == user_id, matches.c.user_b == user_id),
            )
        ).all()
    result = set(blocked)
    for a, b in matched:
        result.update((a, b))
    result.add(user_id)
    return result


@dataclass(frozen=True)
class CandidateFilter:
    """What a partner search asks for."""

    native_language_id: int | None = None
    target_language_id: int | None = None
    level_ids: tuple[int, ...] = ()
    birth_year_range: tuple[int, int] | None = None
    gender: str | None = None
    location_ids: tuple[int, ...] | None = None

    def columns(self, table: sa.Table | Any) -> list[Any]:
        """Conditions on the columns ``candidates`` and ``candidate_targets`` share."""
        found = [table.c.active.is_(True), table.c.native_language_id.is_not(None)]
        if self.native_language_id is not None:
            found.append(table.c.native_language_id == self.native_language_id)
        if self.birth_year_range is not None:
            found.append(table.c.birth_year.between(*self.birth_year_range))
        if self.gender:
            found.append(table.c.gender == self.gender)
        if self.location_ids is not None:
            found.append(table.c.location_id.in_(self.location_ids))
        return found

    def learning(self, targets: sa.Table | Any) -> list[Any]:
        """Conditions on what the candidate learns (a ``candidate_targets`` row)."""
        found = []
        if self.target_language_id is not None:
            found.append(targets.c.language_id == self.target_language_id)
        if self.level_ids:
            found.append(targets.c.level_id.in_(self.level_ids))
        return found


def search_candidates(
    read_models: ReadModels,
    user_id: str,
    wanted: CandidateFilter,
    *,
    exchange_with: tuple[int | None, list[int]],
    limit: int,
) -> tuple[list[str], int]:
    """Filtered candidate ids (exchange partners first, then most recently active) and the
    total. ``exchange_with`` is (my native language, my target languages).

    A language or level filter reads ``candidate_targets`` alone (its rows carry the other
    filter columns), anything else reads ``candidates``; each id query walks one index in
    ``updated_at`` order and stops at ``limit``. Only someone with a language to exchange is
    a candidate: an account that has only signed in (no native or target language yet) has
    nothing to show on a partner card or to rank by, so it is left out.
    """
    candidates = read_models.table(matching, "candidates")
    targets = read_models.table(matching, "candidate_targets")
    excluded = excluded_for(read_models, user_id)
    learning = wanted.learning(targets)
    source = targets if learning else candidates
    scope = [*wanted.columns(source), *learning, source.c.user_id.not_in(excluded)]
    if source is candidates:  # a candidate_targets row is what says they learn something
        scope.append(sa.exists().where(targets.c.user_id == candidates.c.user_id))
    # A level filter without a language can meet one user in two of their target rows.
    distinct = bool(wanted.level_ids) and wanted.target_language_id is None
    matching_ids = sa.select(source.c.user_id).where(*scope)
    # COUNT over a DISTINCT subquery hashes; COUNT(DISTINCT ...) sorts (1.5x slower here).
    counting = sa.select(sa.func.count()).select_from(
        matching_ids.distinct().subquery() if distinct else matching_ids.subquery()
    )
    my_native, my_targets = exchange_with
    partner = targets.alias("partner")  # the row in which they learn my native language
    exchange = sa.select(partner.c.user_id).where(
        *wanted.columns(partner),
        partner.c.user_id.not_in(excluded),
        partner.c.language_id == (my_native or -1),
        partner.c.native_language_id.in_(my_targets or [-1]),
    )
    if wanted.level_ids:  # their level where we would talk
        exchange = exchange.where(partner.c.level_id.in_(wanted.level_ids))
    if wanted.target_language_id not in (None, my_native):
        also = targets.alias("also")
        exchange = exchange.where(
            sa.exists().where(
                also.c.user_id == partner.c.user_id,
                also.c.language_id == wanted.target_language_id,
            )
        )
    with read_models.reads() as conn:
        total = int(conn.execute(counting).scalar_one())
        ids = list(
            conn.execute(
                exchange.order_by(partner.c.updated_at.desc(), partner.c.user_id).limit(limit)
            ).scalars()
        )
        if len(ids) < limit:
            # Rows of one user sit together (same updated_at); twice the room absorbs them.
            seen = set(ids)
            recent = matching_ids.order_by(source.c.updated_at.desc(), source.c.user_id)
            recent = recent.limit(2 * limit)
            for candidate_id in conn.execute(recent).scalars():
                if candidate_id not in seen:
                    seen.add(candidate_id)
                    ids.append(candidate_id)
        return ids[:limit], total

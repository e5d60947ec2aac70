"""Periods that do not fall due together (``infra.spread``), and the key cache that uses
them: keys fetched in one burst expire apart, and none outlives ``CACHE_SECONDS``, the
bound within which another process's erasure must reach this one."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from infra.keystore import CACHE_SECONDS, KeyStore
from infra.spread import spread


def test_a_spread_period_lies_in_the_second_half_and_differs_each_time() -> None:
    draws = [spread(20.0) for _ in range(200)]
    assert all(10.0 <= d <= 20.0 for d in draws)
    assert len(set(draws)) > 100
    assert min(draws) < 12.5 and max(draws) > 17.5, "the draws should cover the half"


def test_keys_fetched_together_expire_apart_and_within_the_cache_period(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    now = [1000.0]
    mine = KeyStore(engine, clock=lambda: now[0])
    other = KeyStore(engine)  # another process: its erasures reach `mine` when its cache lapses
    subjects = [f"user-{i}" for i in range(40)]
    for subject in subjects:
        other.key(subject, create=True)
    mine.prefetch(set(subjects))
    for subject in subjects:
        other.destroy(subject)

    def still_cached() -> int:
        return sum(mine.key(s, create=False) is not None for s in subjects)

    now[0] += CACHE_SECONDS * 0.5 - 0.01
    assert still_cached() == len(subjects), "no key may lapse before half the period"
    now[0] = 1000.0 + CACHE_SECONDS * 0.75
    assert 0 < still_cached() < len(subjects), "keys fetched together must expire apart"
    now[0] = 1000.0 + CACHE_SECONDS
    assert still_cached() == 0, "an erasure elsewhere must be seen within CACHE_SECONDS"

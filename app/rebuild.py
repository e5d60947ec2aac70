"""Blue-green projection rebuilds: fill version n+1 from position 0, switch, drop version n.

Queries keep reading version n until the switch. The projection leaves its processing
group for the rebuild: version n+1 is filled by a group of its own, pinned to it, from
the log; the live group (in any process) keeps writing version n meanwhile, notices the
switch within a second, and rejoins: its subscription starts again from the earliest
member's position, and the other members pass over what they have applied. A rebuild
never takes a read model offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from app.runtime import Runtime
from eventflow.groups import ProjectionGroup
from eventflow.runner import GroupRunner
from eventflow.sources import LogSource

QUERY_GRACE_SECONDS = 2.0
"""How long old tables outlive the switch: queries cache the active version for 1 s."""


def rebuild(
    rt: Runtime,
    name: str,
    *,
    keep_old: bool = False,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Rebuild ``name``; ``on_step`` hears each log position the new version reaches."""
    read_models = rt.read_models
    projection = read_models.projection(name)
    version = read_models.begin_rebuild(projection)
    group = ProjectionGroup(f"rebuild:{name}", read_models, [projection], pinned={name: version},
                            retry_max_seconds=rt.settings.projection_retry_max_seconds)  # fmt: skip
    runner = GroupRunner(group, rt.log_source, rt.fetch, poll_seconds=0.05)
    source = LogSource(rt.store, after=0, batch_size=rt.settings.projection_batch_size,
                       topics=group.topics)  # fmt: skip
    # Catch up twice: the second pass only covers what arrived during the first.
    for _ in range(2):
        runner.catch_up(source, rt.store.max_position(), on_step)
    previous = read_models.switch(projection, version)
    if not keep_old:
        time.sleep(QUERY_GRACE_SECONDS)
        read_models.drop_tables(projection, previous)
    return {"projection": name, "version": version, "previous": previous}


def rebuild_all(
    *,
    keep_old: bool = False,
    parallel: bool = True,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Rebuild every projection, each in its own ``languagemate projections rebuild NAME``
    process, as many at once as there are cores when ``parallel``: a rebuild is mostly one
    Python thread decoding and folding events, so processes, not threads, use the machine.
    SQLite read models take one writer at a time, so there they go one after another.
    ``on_done`` hears each projection's result as it finishes (in any order); the list
    returned is in catalogue order."""
    from projections.catalog import PROJECTIONS

    names = [p.name for p in PROJECTIONS]

    def one(name: str) -> dict[str, Any]:
        command = [sys.executable, "-m", "app.cli", "projections", "rebuild", name]
        done = subprocess.run([*command, *(["--keep-old"] if keep_old else [])],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"rebuilding {name} failed: {done.stderr.strip()[-500:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) if parallel else 1) as pool:
        futures = [pool.submit(one, name) for name in names]
        for finished in as_completed(futures):
            if on_done is not None:
                on_done(finished.result())  # here, in the calling thread
        return [future.result() for future in futures]

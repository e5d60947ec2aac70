"""Blue-green projection rebuilds: fill version n+1 from position 0, switch, drop version n.

Queries keep reading version n until the switch, and the live runners (in any process)
notice the switch within a second and continue on version n+1 from where the rebuild
stopped, so a rebuild never takes a read model offline.
"""

from __future__ import annotations

import time
from typing import Any

from infra.runners import ProjectionRunner
from infra.runtime import Runtime

QUERY_GRACE_SECONDS = 2.0
"""How long old tables outlive the switch: queries cache the active version for 1 s."""


def rebuild(rt: Runtime, name: str, *, keep_old: bool = False) -> dict[str, Any]:
    read_models = rt.read_models
    projection = read_models.projection(name)
    version = read_models.begin_rebuild(projection)
    runner = ProjectionRunner(
        read_models,
        projection,
        rt.log_source,
        poll_seconds=0.05,
        retry_max_seconds=rt.settings.projection_retry_max_seconds,
        version=version,
    )
    source = rt.log_source(projection, version, {})
    # Catch up twice: the second pass only covers what arrived during the first.
    for _ in range(2):
        runner.catch_up(source, version, rt.store.max_position())
    previous = read_models.switch(projection, version)
    if not keep_old:
        time.sleep(QUERY_GRACE_SECONDS)
        read_models.drop_tables(projection, previous)
    return {"projection": name, "version": version, "previous": previous}

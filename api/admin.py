"""Admin routes (the admin role only, granted with ``languagemate users grant-admin``).

Platform metrics for dashboard builders, answered from the ``platform_metrics`` read model
(``projections/platform_metrics.py``) for any range and grouping; and time travel: any
aggregate's state as it was at a version or a moment, folded by the aggregate's own code
from its events (``infra/time_travel.py``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from api.deps import AdminDep, EventStoreDep, ReadModelsDep
from api.envelope import ok
from api.errors import ApiError
from eventflow.time_travel import NoSuchAggregate, state_at
from projections.platform_metrics import Grouping, metrics

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
MAX_DAYS = 3 * 366


@router.get("/metrics")
def platform_metrics(
    admin: AdminDep, read_models: ReadModelsDep,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    group_by: Annotated[Grouping, Query(alias="groupBy")] = "day",
) -> dict[str, Any]:  # fmt: skip
    """Signups, active users, onboarding funnel, match requests and acceptance, messages,
    sessions and minutes, level tests and CEFR distribution, language-pair demand. Days
    are UTC; the default range is the last 30 days."""
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=29)
    if start > end or (end - start).days > MAX_DAYS:
        raise ApiError(422, f"give from <= to, at most {MAX_DAYS} days apart", "BAD_RANGE")
    return ok(metrics(read_models, start, end, group_by))


@router.get("/aggregates/{aggregate_id}")
def aggregate_state(
    aggregate_id: UUID, admin: AdminDep, store: EventStoreDep,
    version: Annotated[int | None, Query(ge=1)] = None,
    at: Annotated[datetime | None, Query()] = None,
) -> dict[str, Any]:  # fmt: skip
    if at is not None and at.tzinfo is None:
        raise ApiError(422, "give `at` with a time zone (e.g. ...Z)", "TIME_ZONE_REQUIRED")
    try:
        return ok(state_at(store, aggregate_id, version=version, at=at))
    except NoSuchAggregate:
        raise ApiError(404, "no such aggregate", "AGGREGATE_NOT_FOUND") from None

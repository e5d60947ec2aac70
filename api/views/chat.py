"""People as chat and sync show them: names and absolute picture URLs (the browser resolves
a relative one against the SPA's own origin)."""

from __future__ import annotations

from api.views.files import file_url
from eventflow.readmodels import ReadModels
from projections import chat as rm


def people_of(read_models: ReadModels, origin: str, user_ids: list[str]) -> dict[str, rm.Person]:
    """``origin`` is this API's as browsers see it (``api.deps.OriginDep``)."""
    return rm.people(read_models, user_ids, lambda key: file_url(origin, key) or "")

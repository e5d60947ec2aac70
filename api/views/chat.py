"""People as chat and sync show them: names and absolute picture URLs (the browser resolves
a relative one against the SPA's own origin)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from api.deps import file_origin
from api.services import Services
from api.views.files import file_url
from projections import chat as rm


def people_of(rt: Services, request: Request, user_ids: list[str]) -> dict[str, dict[str, Any]]:
    return rm.people(
        rt.read_models, user_ids, lambda key: file_url(file_origin(request, rt.settings), key) or ""
    )

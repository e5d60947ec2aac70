"""The SPA's response envelope: ``{success, data, meta}`` and ``{success:false, message, code,
error:{message, code, details}, meta}`` (spa-contract section 3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.responses import JSONResponse


def _meta(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"timestamp": datetime.now(UTC).isoformat(), **(extra or {})}


def ok(data: Any, *, meta: dict[str, Any] | None = None, mirror: bool = False) -> dict[str, Any]:
    """A success body. ``mirror`` repeats an object payload's keys at the top level for the
    callers that read ``res.data.name`` instead of ``res.data.data.name`` (contract 3.3)."""
    body: dict[str, Any] = {"success": True, "data": data, "meta": _meta(meta)}
    if mirror and isinstance(data, dict):
        body = {**data, **body}
    return body


def error_body(status: int, message: str, code: str, details: Any = None) -> dict[str, Any]:
    return {
        "success": False,
        "message": message,
        "code": code,
        "error": {"message": message, "code": code, "details": details or {}},
        "meta": _meta(),
    }


def error(
    status: int, message: str, code: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        error_body(status, message, code, details), status_code=status, headers=headers
    )

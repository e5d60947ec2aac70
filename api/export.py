"""Data export: everything held about the caller as one JSON file behind a signed,
expiring link (spa-contract 4.13)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import CallerDep, RuntimeDep, UserContext
from api.envelope import ok
from api.errors import ApiError
from api.i18n import UserLang
from api.services import Services
from api.views.profiles import own_profile, section_values
from commands import profiles as cmd
from domain.settings import SETTINGS_MODELS
from infra.blobs import BlobNotFound, InvalidBlobKey
from projections.identity import login_history

router = APIRouter(prefix="/api/v1", tags=["settings"])

EXPORT_TTL_SECONDS = 3600


def _export_signature(rt: Services, user_id: str, request_id: str, expires: int) -> str:
    message = f"{user_id}:{request_id}:{expires}".encode()
    return hmac.new(rt.pepper.encode(), message, hashlib.sha256).hexdigest()


@router.post("/settings/export")
def post_export(
    caller: CallerDep, ctx: UserContext, rt: RuntimeDep, request: Request, lang: UserLang
) -> dict[str, Any]:
    """Everything we hold about the caller as one JSON file, behind a signed one-hour link
    (the SPA opens ``downloadUrl`` directly, without a bearer token)."""
    request_id = uuid.uuid4().hex
    history = login_history(rt.read_models, caller.user_id, limit=1000)
    document = {
        "exportedAt": datetime.now(UTC).isoformat(),
        "profile": own_profile(rt, request, caller.user_id, lang),
        "settings": {name: section_values(rt, caller.user_id, name) for name in SETTINGS_MODELS},
        "loginHistory": [{**row, "at": row["at"].isoformat()} for row in history],
    }
    body = json.dumps(document, ensure_ascii=False, default=str, indent=2).encode()
    rt.blobs.put(f"exports/{caller.user_id}/{request_id}.json", body, "application/json")
    cmd.export_data(rt.bus, ctx, cmd.ExportData(user_id=caller.user_id, request_id=request_id))
    expires = int(datetime.now(UTC).timestamp()) + EXPORT_TTL_SECONDS
    signature = _export_signature(rt, caller.user_id, request_id, expires)
    origin = rt.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    query = f"expires={expires}&signature={signature}"
    url = f"{origin}/api/v1/settings/export/{caller.user_id}/{request_id}?{query}"
    filename = f"languagemate-export-{request_id[:8]}.json"
    return ok({"downloadUrl": url, "filename": filename, "requestId": request_id}, mirror=True)


@router.get("/settings/export/{user_id}/{request_id}")
def get_export(
    user_id: UUID, request_id: str, expires: int, signature: str, rt: RuntimeDep
) -> Response:
    """Serves an export only with a valid, unexpired signature for that user and request."""
    expected = _export_signature(rt, str(user_id), request_id, expires)
    fresh = expires >= int(datetime.now(UTC).timestamp())
    # Bytes: compare_digest refuses str with non-ASCII characters (TypeError, a 500).
    if not (fresh and hmac.compare_digest(expected.encode(), signature.encode())):
        raise ApiError(404, "file not found", "FILE_NOT_FOUND")
    try:
        blob = rt.blobs.get(f"exports/{user_id}/{request_id}.json")
    except (BlobNotFound, InvalidBlobKey):
        raise ApiError(404, "file not found", "FILE_NOT_FOUND") from None
    headers = {
        "Content-Disposition": f'attachment; filename="languagemate-export-{request_id[:8]}.json"',
        "Cache-Control": "no-store",
    }
    return Response(blob.data, media_type="application/json", headers=headers)

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

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import (
    BlobsDep,
    CallerDep,
    OriginDep,
    PepperDep,
    PresenceDep,
    ReadModelsDep,
    UserContext,
    WritesDep,
)
from api.envelope import ok
from api.errors import ApiError
from api.i18n import UserLang
from api.views.profiles import own_profile, section_values
from commands import profiles as cmd
from domain.settings import SETTINGS_MODELS
from infra.blobs import BlobNotFound, InvalidBlobKey
from projections.identity import login_history

router = APIRouter(prefix="/api/v1", tags=["settings"])

EXPORT_TTL_SECONDS = 3600


def _export_signature(secret: str, user_id: str, request_id: str, expires: int) -> str:
    message = f"{user_id}:{request_id}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@router.post("/settings/export")
def post_export(
    caller: CallerDep, ctx: UserContext, writes: WritesDep, read_models: ReadModelsDep,
    presence: PresenceDep, origin: OriginDep, blobs: BlobsDep, secret: PepperDep,
    lang: UserLang,
) -> dict[str, Any]:  # fmt: skip
    """Everything we hold about the caller as one JSON file, behind a signed one-hour link
    (the SPA opens ``downloadUrl`` directly, without a bearer token)."""
    request_id = uuid.uuid4().hex
    history = login_history(read_models, caller.user_id, limit=1000)
    document = {
        "exportedAt": datetime.now(UTC).isoformat(),
        "profile": own_profile(read_models, presence, origin, caller.user_id, lang),
        "settings": {
            name: section_values(read_models, caller.user_id, name) for name in SETTINGS_MODELS
        },
        "loginHistory": [{**row, "at": row["at"].isoformat()} for row in history],
    }
    body = json.dumps(document, ensure_ascii=False, default=str, indent=2).encode()
    blobs.put(f"exports/{caller.user_id}/{request_id}.json", body, "application/json")
    writes.issue(cmd.export_data, ctx, cmd.ExportData(user_id=caller.user_id,
                                                      request_id=request_id))  # fmt: skip
    expires = int(datetime.now(UTC).timestamp()) + EXPORT_TTL_SECONDS
    signature = _export_signature(secret, caller.user_id, request_id, expires)
    query = f"expires={expires}&signature={signature}"
    url = f"{origin}/api/v1/settings/export/{caller.user_id}/{request_id}?{query}"
    filename = f"languagemate-export-{request_id[:8]}.json"
    return ok({"downloadUrl": url, "filename": filename, "requestId": request_id}, mirror=True)


@router.get("/settings/export/{user_id}/{request_id}")
def get_export(
    user_id: UUID, request_id: str, expires: int, signature: str, blobs: BlobsDep,
    secret: PepperDep,
) -> Response:  # fmt: skip
    """Serves an export only with a valid, unexpired signature for that user and request."""
    expected = _export_signature(secret, str(user_id), request_id, expires)
    fresh = expires >= int(datetime.now(UTC).timestamp())
    # Bytes: compare_digest refuses str with non-ASCII characters (TypeError, a 500).
    if not (fresh and hmac.compare_digest(expected.encode(), signature.encode())):
        raise ApiError(404, "file not found", "FILE_NOT_FOUND")
    try:
        blob = blobs.get(f"exports/{user_id}/{request_id}.json")
    except (BlobNotFound, InvalidBlobKey):
        raise ApiError(404, "file not found", "FILE_NOT_FOUND") from None
    headers = {
        "Content-Disposition": f'attachment; filename="languagemate-export-{request_id[:8]}.json"',
        "Cache-Control": "no-store",
    }
    return Response(blob.data, media_type="application/json", headers=headers)

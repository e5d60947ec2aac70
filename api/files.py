"""Files: profile images (re-encoded before they are stored) and the public file route
that serves them and chat media to ``<img>``/``<audio>`` tags (spa-contract 4.7)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.deps import BlobsDep, CallerDep, OriginDep, SettingsDep, UserContext, WritesDep
from api.envelope import ok
from api.errors import ApiError
from api.openapi import error_responses
from api.views.files import PUBLIC_BLOB_PREFIXES, file_url
from api.views.profiles import save
from commands import profiles as cmd
from infra.blobs import BlobNotFound, InvalidBlobKey
from infra.media.images import ImageRejected, process_profile_image

router = APIRouter(prefix="/api/v1", tags=["files"])


@router.post("/users/me/profile-image", responses=error_responses(413))
async def post_profile_image(
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    blobs: BlobsDep,
    origin: OriginDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File()],
) -> dict[str, Any]:
    """Re-encode to WebP in the sizes the SPA shows, metadata (GPS, camera) stripped."""
    max_bytes = settings.image_max_bytes
    data = await file.read(max_bytes + 1)
    try:
        renditions = await run_in_threadpool(process_profile_image, data, max_bytes=max_bytes)
    except ImageRejected as exc:
        status = 413 if exc.code == "IMAGE_TOO_LARGE" else 422
        raise ApiError(status, "이미지를 처리할 수 없습니다 (image rejected)", exc.code) from None
    prefix = f"profile-images/{caller.user_id}/{uuid.uuid4().hex}"
    for rendition in renditions:
        await run_in_threadpool(
            blobs.put, f"{prefix}/{rendition.size}.webp", rendition.data, rendition.content_type
        )
    command = cmd.SetProfileImage(user_id=caller.user_id, image_key=prefix)
    await run_in_threadpool(save, writes, ctx, cmd.set_profile_image, command)
    url = file_url(origin, prefix)
    sizes = {str(r.size): file_url(origin, prefix, r.size) for r in renditions}
    return ok({"url": url, "profileImageUrl": url, "sizes": sizes}, mirror=True)


@router.get("/upload/file/{key:path}", tags=["files"])
def get_file(key: str, blobs: BlobsDep) -> Response:
    """Public by necessity (``<img>``/``<audio>`` send no token): only unguessable keys under
    public prefixes are served."""
    if not key.startswith(PUBLIC_BLOB_PREFIXES):
        raise ApiError(404, "파일을 찾을 수 없습니다 (file not found)", "FILE_NOT_FOUND")
    try:
        blob = blobs.get(key)
    except (BlobNotFound, InvalidBlobKey):
        raise ApiError(404, "파일을 찾을 수 없습니다 (file not found)", "FILE_NOT_FOUND") from None
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(blob.data, media_type=blob.content_type, headers=headers)

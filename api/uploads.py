"""Recordings uploaded by the SPA (level-test answers, the AI service's transcription),
checked once before anything is stored (``infra.media.audio``).

The body has already passed ``api.body_limits`` (at most the cap plus the multipart
framing), and Starlette has spooled the file to disk past 1 MiB. The decoder reads it from
there and writes the decoded audio straight into the WAV that is stored, so a request
holds that WAV (32 kB a second of recording, 19 MB at the ten-minute limit) and never the
upload itself: a 30 MB recording costs no 30 MB of memory, and a hostile one is refused
(too long, undecodable) before it costs more.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from infra.media import audio

MAX_IMAGES = 5
"""Pictures in one chat image message (the SPA's picker allows five)."""
STATUS_FOR_REJECTION = {"AUDIO_TOO_LARGE": 413, "AUDIO_TOO_LONG": 413}


@dataclass(frozen=True)
class Recording:
    wav: bytes
    """The decoded audio as stored: what the workers read without decoding again."""
    seconds: float
    uploaded_type: str
    """The media type the browser declared (its ``MediaRecorder`` format)."""


def _size(upload: UploadFile) -> int:
    if upload.size is not None:
        return upload.size
    end = upload.file.seek(0, 2)
    upload.file.seek(0)
    return end


def _checked(upload: UploadFile, max_bytes: int, max_seconds: float) -> tuple[bytes, float]:
    audio.check_size(_size(upload), max_bytes)
    upload.file.seek(0)
    return audio.decode_to_wav(upload.file, max_seconds)


async def read_recording(
    upload: UploadFile, max_bytes: int = audio.MAX_BYTES, max_seconds: float = audio.MAX_SECONDS
) -> Recording:
    """The upload decoded and checked, or a clear 4xx naming why (empty, undecodable, too
    short, too long, larger than ``max_bytes``)."""
    try:
        wav, seconds = await run_in_threadpool(_checked, upload, max_bytes, max_seconds)
    except audio.AudioRejected as rejected:
        status = STATUS_FOR_REJECTION.get(rejected.code, 422)
        raise ApiError(status, str(rejected), rejected.code) from None
    declared = (upload.content_type or "application/octet-stream").split(";")[0].strip()
    return Recording(wav=wav, seconds=seconds, uploaded_type=declared)

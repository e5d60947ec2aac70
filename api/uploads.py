"""Recordings uploaded by the SPA (level-test answers, the AI service's transcription),
read and checked once before anything is stored (``infra.media.audio``)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from infra.media import audio

READ_CHUNK = 1 << 20
STATUS_FOR_REJECTION = {"AUDIO_TOO_LARGE": 413, "AUDIO_TOO_LONG": 413}


@dataclass(frozen=True)
class Recording:
    wav: bytes
    """The decoded audio as stored: what the workers read without decoding again."""
    seconds: float
    uploaded_type: str
    """The media type the browser declared (its ``MediaRecorder`` format)."""


async def _read_capped(upload: UploadFile) -> bytes:
    """The upload, refused as soon as it passes the size limit (not after reading it all)."""
    chunks, size = [], 0
    while chunk := await upload.read(READ_CHUNK):
        size += len(chunk)
        if size > audio.MAX_BYTES:
            raise ApiError(413, "the recording is larger than 30 MB", "AUDIO_TOO_LARGE")
        chunks.append(chunk)
    return b"".join(chunks)


def _checked(data: bytes, max_seconds: float) -> tuple[bytes, float]:
    samples = audio.decode(data, max_seconds)
    return audio.to_wav(samples), audio.seconds(samples)


async def read_recording(upload: UploadFile, max_seconds: float = audio.MAX_SECONDS) -> Recording:
    """The upload decoded and checked, or a clear 4xx naming why (empty, undecodable, too
    short, too long, too large)."""
    data = await _read_capped(upload)
    try:
        wav, seconds = await run_in_threadpool(_checked, data, max_seconds)
    except audio.AudioRejected as rejected:
        status = STATUS_FOR_REJECTION.get(rejected.code, 422)
        raise ApiError(status, str(rejected), rejected.code) from None
    declared = (upload.content_type or "application/octet-stream").split(";")[0].strip()
    return Recording(wav=wav, seconds=seconds, uploaded_type=declared)

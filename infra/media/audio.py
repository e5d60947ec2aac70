"""Browser recordings in, 16 kHz mono samples out: the level test's and the AI service's
audio, checked once at upload and stored in the one form speech recognition reads.

The SPA records with ``MediaRecorder`` in whatever the browser offers (webm/opus,
ogg/opus, mp4/aac, wav) and always names the file ``recording.webm``, so the container is
found from the bytes by FFmpeg (PyAV), never from the name or the declared type. The API
decodes each upload once: a recording that is empty, undecodable, too short or too long
is refused before anything is stored, and what is stored is the decoded audio as a 16-bit
WAV. The worker then reads those samples back without running a decoder again
(:func:`samples_of`); a recording stored in another form (before this module, or by a
tool) is decoded as it would have been at upload.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from typing import BinaryIO

import av
import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE = 16_000
"""What Whisper takes; 16-bit mono at this rate is 32 kB a second (1.9 MB a minute)."""
MIN_SECONDS = 0.5
MAX_SECONDS = 10 * 60
MAX_BYTES = 30 * 1024 * 1024
WAV_MEDIA_TYPE = "audio/wav"
Samples = NDArray[np.float32]


class AudioRejected(ValueError):
    """A recording that cannot be used; ``code`` names why (an API error code)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def check_size(size: int, max_bytes: int = MAX_BYTES) -> None:
    """:class:`AudioRejected` for a recording that is empty or larger than ``max_bytes``."""
    if not size:
        raise AudioRejected("the recording is empty", "AUDIO_EMPTY")
    if size > max_bytes:
        raise AudioRejected(
            f"the recording is larger than {max_bytes / 2**20:g} MB", "AUDIO_TOO_LARGE"
        )


def _too_long(max_seconds: float) -> AudioRejected:
    return AudioRejected(
        f"recordings are at most {max_seconds / 60:g} minutes long", "AUDIO_TOO_LONG"
    )


def _pcm_chunks(source: bytes | BinaryIO, max_seconds: float) -> Iterator[NDArray[np.int16]]:
    """The recording as 16 kHz mono 16-bit chunks, as FFmpeg decodes it; a file is read as
    the decoder goes, never whole. Stops with ``AUDIO_TOO_LONG`` as soon as it passes
    ``max_seconds``, with ``AUDIO_UNDECODABLE`` on anything FFmpeg cannot read."""
    limit = int(max_seconds * SAMPLE_RATE)
    taken = 0
    readable = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with av.open(readable, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioRejected("the recording has no sound", "AUDIO_UNDECODABLE")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    pcm = _pcm(out)
                    taken += pcm.size
                    yield pcm
                if taken > limit:
                    raise _too_long(max_seconds)
            for out in resampler.resample(None):
                yield _pcm(out)
    except AudioRejected:
        raise
    except Exception:  # FFmpeg reports broken or non-audio input through many error types
        raise AudioRejected("the recording could not be decoded", "AUDIO_UNDECODABLE") from None


def _check_length(frames: int, max_seconds: float) -> None:
    if frames < MIN_SECONDS * SAMPLE_RATE:
        raise AudioRejected("the recording is too short to assess", "AUDIO_TOO_SHORT")
    if frames > int(max_seconds * SAMPLE_RATE):
        raise _too_long(max_seconds)


def decode(data: bytes, max_seconds: float = MAX_SECONDS) -> Samples:
    """The recording as 16 kHz mono float32 samples in [-1, 1], or :class:`AudioRejected`
    (empty, larger than ``MAX_BYTES``, undecodable, shorter than ``MIN_SECONDS``, longer
    than ``max_seconds``). Decoding stops as soon as the recording passes ``max_seconds``,
    so a long or hostile file costs at most that much memory."""
    check_size(len(data))
    chunks = list(_pcm_chunks(data, max_seconds))
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    _check_length(pcm.size, max_seconds)
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


def decode_to_wav(source: BinaryIO, max_seconds: float = MAX_SECONDS) -> tuple[bytes, float]:
    """An upload (a file the size of which was checked) decoded straight into the WAV that
    is stored, and its length in seconds; refused like :func:`decode`. Equal to
    ``to_wav(decode(data))``, but what it holds is that WAV alone (32 kB a second, 19 MB for
    ten minutes): not the upload, which is read from its file as FFmpeg goes, nor the float
    copies that :func:`decode` makes for the workers."""
    out = io.BytesIO()
    frames = 0
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        for pcm in _pcm_chunks(source, max_seconds):
            wav.writeframes(pcm.astype("<i2").tobytes())
            frames += pcm.size
    _check_length(frames, max_seconds)
    return out.getvalue(), frames / SAMPLE_RATE


def _pcm(frame: av.AudioFrame) -> NDArray[np.int16]:
    return np.asarray(frame.to_ndarray(), dtype=np.int16).reshape(-1)


def seconds(samples: Samples) -> float:
    return len(samples) / SAMPLE_RATE


def to_wav(samples: Samples) -> bytes:
    """16-bit mono WAV at ``SAMPLE_RATE``: the stored form of a checked recording."""
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm.tobytes())
    return out.getvalue()


def samples_of(data: bytes) -> Samples:
    """The samples of a stored recording: read straight from a WAV that :func:`to_wav`
    wrote, decoded like an upload otherwise."""
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            ours = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (
                1, 2, SAMPLE_RATE,
            )  # fmt: skip
            if ours and wav.getcomptype() == "NONE":
                pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
                return (pcm.astype(np.float32) / 32768.0).astype(np.float32)
    except (wave.Error, EOFError):
        pass
    return decode(data)

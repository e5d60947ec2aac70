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


def decode(data: bytes, max_seconds: float = MAX_SECONDS) -> Samples:
    """The recording as 16 kHz mono float32 samples in [-1, 1], or :class:`AudioRejected`
    (empty, larger than ``MAX_BYTES``, undecodable, shorter than ``MIN_SECONDS``, longer
    than ``max_seconds``). Decoding stops as soon as the recording passes ``max_seconds``,
    so a long or hostile file costs at most that much memory."""
    if not data:
        raise AudioRejected("the recording is empty", "AUDIO_EMPTY")
    if len(data) > MAX_BYTES:
        raise AudioRejected("the recording is larger than 30 MB", "AUDIO_TOO_LARGE")
    limit = int(max_seconds * SAMPLE_RATE)
    chunks: list[NDArray[np.int16]] = []
    taken = 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioRejected("the recording has no sound", "AUDIO_UNDECODABLE")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    chunks.append(_pcm(out))
                    taken += chunks[-1].size
                if taken > limit:
                    raise AudioRejected(
                        f"recordings are at most {max_seconds / 60:g} minutes long",
                        "AUDIO_TOO_LONG",
                    )
            chunks += [_pcm(out) for out in resampler.resample(None)]
    except AudioRejected:
        raise
    except Exception:  # FFmpeg reports broken or non-audio input through many error types
        raise AudioRejected("the recording could not be decoded", "AUDIO_UNDECODABLE") from None
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    if pcm.size < MIN_SECONDS * SAMPLE_RATE:
        raise AudioRejected("the recording is too short to assess", "AUDIO_TOO_SHORT")
    if pcm.size > limit:
        raise AudioRejected(
            f"recordings are at most {max_seconds / 60:g} minutes long", "AUDIO_TOO_LONG"
        )
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


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

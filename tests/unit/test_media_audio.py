"""Recordings as the browsers make them decode to 16 kHz mono once, at upload; what is
stored reads back without a decoder; and the API's check needs none of the speech
packages the workers load."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from infra.media import audio

ROOT = Path(__file__).resolve().parents[2]


def _tone(seconds: float, rate: int = 48_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _encoded(container: str, codec: str, seconds: float, rate: int = 48_000) -> bytes:
    """A tone encoded the way ``MediaRecorder`` would deliver it (container and codec)."""
    out = io.BytesIO()
    with av.open(out, mode="w", format=container) as box:
        stream = box.add_stream(codec, rate=rate)
        stream.layout = "mono"
        samples = _tone(seconds, rate)
        step = 960
        for start in range(0, len(samples), step):
            chunk = samples[start : start + step].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                box.mux(packet)
        for packet in stream.encode(None):
            box.mux(packet)
    return out.getvalue()


@pytest.mark.parametrize(
    ("container", "codec"),
    [("webm", "libopus"), ("ogg", "libopus"), ("mp4", "aac"), ("wav", "pcm_s16le")],
)
def test_each_browser_format_decodes_to_16k_mono_of_the_right_length(
    container: str, codec: str
) -> None:
    samples = audio.decode(_encoded(container, codec, 2.0))

    assert samples.dtype == np.float32
    assert audio.seconds(samples) == pytest.approx(2.0, abs=0.1)
    assert 0.2 < float(np.abs(samples).max()) <= 1.0  # the tone, not silence


def test_the_stored_form_reads_back_sample_for_sample_without_decoding() -> None:
    samples = audio.decode(_encoded("ogg", "libopus", 1.5))
    stored = audio.to_wav(samples)

    back = audio.samples_of(stored)

    assert len(stored) == 44 + 2 * len(samples)  # 16-bit mono PCM and a header
    assert back.shape == samples.shape
    assert float(np.abs(back - samples).max()) <= 1 / 32768


def test_a_recording_stored_in_another_form_is_decoded_like_an_upload() -> None:
    original = _encoded("webm", "libopus", 1.0)

    assert audio.samples_of(original).shape == audio.decode(original).shape


def test_decoding_stops_once_a_recording_passes_its_limit() -> None:
    with pytest.raises(audio.AudioRejected) as rejected:
        audio.decode(_encoded("ogg", "libopus", 3.0), max_seconds=1.0)

    assert rejected.value.code == "AUDIO_TOO_LONG"


def test_the_api_checks_an_upload_without_the_speech_packages() -> None:
    """The API decodes with the shared media module; Whisper's packages stay the workers'.
    Run in a fresh interpreter where importing them fails."""
    script = textwrap.dedent(
        """
        import asyncio, io, sys
        from importlib.abc import MetaPathFinder

        class Refuse(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("faster_whisper", "ctranslate2"):
                    raise ModuleNotFoundError(name)
                return None

        sys.meta_path.insert(0, Refuse())
        from fastapi import UploadFile
        from api.uploads import read_recording
        from infra.media import audio

        wav = audio.to_wav(audio.decode(sys.stdin.buffer.read()))
        upload = UploadFile(io.BytesIO(wav), filename="recording.webm")
        recording = asyncio.run(read_recording(upload))
        print(round(recording.seconds, 1))
        """
    )
    tone = _encoded("wav", "pcm_s16le", 1.2)
    done = subprocess.run([sys.executable, "-c", script], input=tone, cwd=ROOT,
                          capture_output=True, timeout=60, check=False)  # fmt: skip

    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "1.2"


@pytest.mark.parametrize(("container", "codec"), [("webm", "libopus"), ("wav", "pcm_s16le")])
def test_an_upload_decodes_from_its_file_into_the_same_wav_as_from_memory(
    container: str, codec: str, tmp_path: Path
) -> None:
    """The API decodes uploads from the file Starlette spooled them to (never reading them
    whole) straight into the stored WAV; it must be the WAV the two-step path writes."""
    data = _encoded(container, codec, 1.5)
    spooled = tmp_path / "upload"
    spooled.write_bytes(data)

    with spooled.open("rb") as file:
        wav, seconds = audio.decode_to_wav(file)

    assert wav == audio.to_wav(audio.decode(data))
    assert seconds == pytest.approx(1.5, abs=0.1)


def test_a_file_is_refused_like_bytes_when_it_is_too_long_or_not_audio(tmp_path: Path) -> None:
    long_tone, junk = tmp_path / "long", tmp_path / "junk"
    long_tone.write_bytes(_encoded("wav", "pcm_s16le", 3.0))
    junk.write_bytes(b"definitely not audio" * 50)
    for path, code in ((long_tone, "AUDIO_TOO_LONG"), (junk, "AUDIO_UNDECODABLE")):
        with path.open("rb") as file, pytest.raises(audio.AudioRejected) as refused:
            audio.decode_to_wav(file, max_seconds=2)
        assert refused.value.code == code

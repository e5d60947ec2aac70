"""The AI service's jobs: stateless answers for the ``/api/v1/leveltest`` routes (transcribe
a recording, evaluate transcripts, give feedback on a conversation message).

They run on the same workers, with the same models loaded once per process, as the level
test's own jobs, so the API process never loads Whisper or a language model. They answer
(``JobQueue.call``) and are not retried: the caller is waiting, and a retry after its
timeout would be work nobody reads. Nothing here appends events; these are questions, not
decisions.
"""

from __future__ import annotations

import math
from typing import Any

from domain.level_practice import suggestions
from infra.jobs import AI_CONVERSATION_FEEDBACK, AI_EVALUATE, AI_TRANSCRIBE
from infra.media import audio
from workers import cefr_scorer, level_feedback, llm, speech
from workers.cefr_features import text_features
from workers.jobs import job
from workers.services import WorkerServices

MIN_WORDS_FOR_LEVEL = 40
"""Below this the scorer's level mostly reflects the length (the calibration set's
answers run to about 120 words), so a chat message that short gets no level."""


def _model(runtime: WorkerServices) -> llm.LanguageModel | None:
    return llm.shared_model(runtime.settings.llm_model, runtime.settings.model_cache)


@job(AI_TRANSCRIBE, max_retries=0)
def transcribe(
    runtime: WorkerServices, blob_key: str, language: str, prompt: str | None
) -> dict[str, Any]:
    """Text and word timings of a recording the API checked and parked in the blob store
    (audio is too large for a queue message); the parked copy is removed either way."""
    try:
        samples = audio.samples_of(runtime.blobs.get(blob_key).data)
    finally:
        runtime.blobs.delete(blob_key)
    result = speech.shared_transcriber(runtime.settings.model_cache).transcribe(
        samples, language, prompt=prompt
    )
    return {
        "text": result.text,
        "language": result.language,
        "duration": round(result.duration, 2),
        "words": [
            {"word": w.word, "start": w.start, "end": w.end, "probability": round(w.probability, 3)}
            for w in result.words
        ],
        "model": result.model_version,
    }


@job(AI_EVALUATE, max_retries=0)
def evaluate(runtime: WorkerServices, language: str, responses: list[list[Any]]) -> dict[str, Any]:
    """The CEFR result for ``[prompt, transcript, words]`` rows (words may be empty)."""
    answers = [
        cefr_scorer.Answer(prompt or "", text, words or []) for prompt, text, words in responses
    ]
    return cefr_scorer.assess(answers, language, llm=_model(runtime))


@job(AI_CONVERSATION_FEEDBACK, max_retries=0)
def conversation_feedback(runtime: WorkerServices, message: str, language: str) -> dict[str, Any]:
    """Corrections and suggestions for one thing a learner wrote or said in a conversation:
    measured text features say what to practise; the model only proposes corrections of
    sentences the learner actually wrote."""
    model = _model(runtime)
    result = cefr_scorer.assess([cefr_scorer.Answer("", message, [])], language, llm=model)
    text_areas = ("grammar", "vocabulary", "coherence")
    scores = {k: v for k, v in result["scores"].items() if k in text_areas}
    enough = math.expm1(result["features"]["log_words"]) >= MIN_WORDS_FOR_LEVEL
    return {
        "estimatedLevel": result["level"] if enough else None,
        "overallAssessment": (
            f"This message reads at about level {result['level']} "
            f"({result['overall']}/100 on the level-test scale)."
            if enough
            else f"Too short to estimate a level (under {MIN_WORDS_FOR_LEVEL} words); "
            "the corrections and suggestions below still apply."
        ),
        "strengths": [s for s in result["strengths"] if s.split(":")[0] in text_areas],
        "weaknesses": [s for s in result["improvements"] if s.split(":")[0] in text_areas],
        "corrections": level_feedback.corrections(model, message),
        "suggestions": suggestions(text_features(message, language), language),
        "encouragement": _encouragement(scores),
        "fluencyScore": result["overall"],
        "scores": scores,
        "modelVersions": {
            "scorer": result["scorer_version"],
            "llm": model.name if model else "none",
        },
    }


def _encouragement(scores: dict[str, int]) -> str:
    best = max(scores, key=lambda k: scores[k])
    return f"Keep going: your {best} is your strongest area in this message."

"""The CEFR scorer: measurable features -> calibrated level -> the result event's fields.

The level comes from a ridge regression over text features, fitted on examiner-labelled
learner answers (``bench/cefr_calibrate.py`` fits it and reports nested cross-validated quality;
the coefficients are in ``cefr_calibration.json``). A small LLM's free-text verdict is not
trusted (models-notes: it rated A2 text B2 and C1 text B2); how surprising it finds the
answer's words (``workers/cefr_surprisal.py``) joins the regression only with a fit made
for that exact model file and prompt (``signal_key``), since each has its own scale. Two
are shipped, for the default SmolLM2 and for Qwen 1.5B (docs/level-test.md): with robust
aggregates that leave out the words Whisper was unsure of, each beats word count on text
and rates speech like text (Qwen no better than SmolLM2); any other model, or none, gets
the text features' fit. A fit may store a low-end
length hinge (``hinge_words``, chosen by the calibration's inner folds; none when they found
no use for it), computed for English answers only.
Sub-scores map the measured features onto 0-100 with fixed, documented anchors; speech
features (rate, pauses, runs, Whisper's word confidence) drive fluency and pronunciation,
which written data cannot calibrate.

The score->CEFR table is ``domain/levels.py``. The overall score is the calibrated level
placed inside its band, so ``level_for(overall)`` always equals the level reported.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from domain.levels import level_for, overall_for
from workers.cefr_features import HINGE, TEXT_FEATURES, speech_features, text_features
from workers.cefr_surprisal import SURPRISAL_FEATURES, surprisal_features, trusted
from workers.level_feedback import MIN_WORDS_FOR_STRENGTH, assessment_feedback, measured_facts
from workers.llm import LanguageModel

CALIBRATION = Path(__file__).with_name("cefr_calibration.json")
STRONG, WEAK = 70, 50
HEARD_PROBABILITY = 0.3
"""Whisper's word probability from which a timed word counts as heard: real words, even a
learner's mispronounced ones, mostly score 0.5-1.0; words made up from beeps score 0-0.05."""
MIN_HEARD_WORDS = 3
MIN_HEARD_SHARE = 0.5


def _scale(value: float, zero: float, full: float) -> float:
    """``zero`` maps to 0 and ``full`` to 100 (either may be larger), clamped."""
    return min(max(100 * (value - zero) / (full - zero), 0.0), 100.0)


@cache
def _calibration() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CALIBRATION.read_text())
    fits = [data, *data.get("with_llm", {}).values()]
    if any(
        f["features"][: len(TEXT_FEATURES)] != list(TEXT_FEATURES)
        or (HINGE in f["features"]) != (f.get("hinge_words") is not None)
        for f in fits
    ):
        raise RuntimeError("cefr_calibration.json does not match the feature set; refit it")
    return data


def fit_for(signal_key: str | None) -> dict[str, Any]:
    """The fit for features plus this model's surprisal, or the text-only fit."""
    fits: dict[str, dict[str, Any]] = _calibration().get("with_llm", {})
    return fits.get(signal_key or "", _calibration())


def calibrated_level(features: dict[str, float], fit: dict[str, Any] | None = None) -> float:
    """A feature the language cannot measure (the CEFR profiles are English) counts as the
    calibration answers' mean, so it moves the level neither way."""
    c = fit or _calibration()
    value = c["intercept"] + sum(
        w * (features.get(name, m) - m) / s
        for name, w, m, s in zip(c["features"], c["weights"], c["mean"], c["std"], strict=True)
    )
    return float(min(max(value, 1.0), 6.0))


@dataclass(frozen=True)
class Answer:
    prompt: str
    text: str
    words: list[list[Any]]
    """``[word, start, end, probability]`` rows from Whisper."""


def heard_words(answer: Answer) -> tuple[int, int]:
    """How many of an answer's words were heard, and out of how many recognised. A timed
    word is heard when Whisper is fairly sure of it and it takes time (hallucinated words
    often get none); text recorded without timings (a written answer) is all heard."""
    if not answer.words:
        count = len(answer.text.split())
        return count, count
    heard = [w for w in answer.words
             if float(w[3]) >= HEARD_PROBABILITY and float(w[2]) > float(w[1])]  # fmt: skip
    return len(heard), len(answer.words)


def speech_heard(answers: list[Answer]) -> bool:
    """Whether the test holds speech to rate: at least ``MIN_HEARD_WORDS`` heard words in
    all, and at least ``MIN_HEARD_SHARE`` of the recognised words heard (Whisper turns beeps
    or noise into a few improbable words, often the question itself; a learner's two short
    sentences are six or more words heard with confidence)."""
    counts = [heard_words(a) for a in answers]
    heard, recognised = sum(c[0] for c in counts), sum(c[1] for c in counts)
    return heard >= MIN_HEARD_WORDS and heard >= MIN_HEARD_SHARE * recognised


def subscores(
    text: dict[str, float], speech: dict[str, float] | None, topic: float | None, overall: int
) -> dict[str, float]:
    """The six rubric areas on 0-100 from fixed anchors (without timings, fluency and
    pronunciation follow the overall score; without a topic similarity, interaction
    follows how much was said)."""
    if speech:
        fluency = (
            _scale(speech["speech_rate"], 50, 160)
            + _scale(speech["mean_length_of_run"], 2, 12)
            + _scale(speech["pauses_per_minute"], 25, 3)
        ) / 3
        pronunciation = _scale(speech["clarity"], 0.5, 0.95)
    else:
        fluency = pronunciation = float(overall)
    if topic is not None:
        interaction = _scale(topic, 0.1, 0.6)
    else:
        interaction = _scale(text["log_words"], 2.5, 5)
    grammar = (_scale(text["sentence_length"], 5, 20) + _scale(text["subordination"], 0, 1.2)) / 2
    vocabulary = (_scale(text["mattr"], 0.55, 0.85) + _scale(text["rare_share"], 0.04, 0.3)) / 2
    coherence = (_scale(text["connectives"], 0, 4) + _scale(text["sentence_length"], 4, 16)) / 2
    return {
        "pronunciation": pronunciation,
        "fluency": fluency,
        "grammar": grammar,
        "vocabulary": vocabulary,
        "coherence": coherence,
        "interaction": interaction,
    }


def assess(
    answers: list[Answer],
    language: str,
    relevance: list[float] | None = None,
    llm: LanguageModel | None = None,
) -> dict[str, Any]:
    """The ``LevelAssessed`` fields (less ids) for a test's transcribed answers.
    ``relevance`` is each answer's similarity to its prompt (0..1), if known; ``llm`` adds
    feedback wording, and its surprisal features when a fit for this model uses them (for
    SmolLM2 and Qwen 1.5B: docs/level-test.md); each answer's words that Whisper was
    unsure of are left out of them (``trusted``, per answer, so that a written answer
    beside a spoken one keeps every word)."""
    text = " ".join(a.text for a in answers)
    timed = [w for a in answers for w in a.words]
    fit = fit_for(llm.signal_key if llm else None)
    features = text_features(text, language, timed, fit.get("hinge_words"))
    if llm is not None and set(SURPRISAL_FEATURES) <= set(fit["features"]):
        trust = [flag for a in answers for flag in trusted(a.text, a.words)]
        features.update(surprisal_features(llm, text, language, trust))
    speech = speech_features(timed)
    value = calibrated_level(features, fit)
    overall = overall_for(value)
    topic = sum(relevance) / len(relevance) if relevance else None
    scores = subscores(features, speech if timed else None, topic, overall)
    rounded = {k: round(v) for k, v in scores.items()}
    words = len([w for w in text.split() if w])
    confidence = round(100 * min(1.0, words / 80) * (1 - fit["cross_validated"]["rmse"] / 3))
    measured = {**features, **speech, "level_value": value}
    if topic is not None:
        measured["relevance"] = topic
    evidence = _evidence(measured)
    facts = measured_facts(level_for(overall), rounded, evidence, measured)
    feedback, source = assessment_feedback(llm, text, facts)
    return {
        "level": level_for(overall),
        "overall": overall,
        "scores": rounded,
        "strengths": [f"{k}: {evidence[k]}" for k, v in rounded.items()
                      if v >= STRONG and words >= MIN_WORDS_FOR_STRENGTH],
        "improvements": [f"{k}: work on this ({evidence[k]})"
                         for k, v in rounded.items() if v <= WEAK],
        "feedback": feedback,
        "feedback_source": source,
        "confidence": max(min(confidence, 100), 0),
        "features": {k: round(float(v), 4) for k, v in measured.items()},
        "scorer_version": fit["version"],
    }  # fmt: skip


def _evidence(f: dict[str, float]) -> dict[str, str]:
    """For each area, the measurements its score rests on, in words."""
    return {
        "vocabulary": f"diversity {f['mattr']:.2f}, {100 * f['rare_share']:.0f}% less common words",
        "grammar": f"{f['sentence_length']:.1f} words a sentence, "
        f"{f['subordination']:.1f} linked clauses",
        "fluency": f"{f['speech_rate']:.0f} words a minute, "
        f"{f['pauses_per_minute']:.0f} long pauses a minute",
        "pronunciation": f"recognised with {100 * f['clarity']:.0f}% average confidence",
        "coherence": f"{f['connectives']:.1f} linking words per 100 words",
        "interaction": f"relevance {f['relevance']:.2f} to the question"
        if "relevance" in f
        else f"{math.expm1(f['log_words']):.0f} words said",
    }

"""The CEFR scorer: measurable features -> calibrated level -> the result event's fields.

The level comes from a ridge regression over text features, fitted on examiner-labelled
learner answers (``bench/cefr_calibrate.py`` fits it and reports leave-one-out quality;
the coefficients are in ``cefr_calibration.json``). A small LLM's free-text verdict is not
trusted (models-notes: it rated A2 text B2 and C1 text B2). Sub-scores map the measured
features onto 0-100 with fixed, documented anchors; speech features (rate, pauses, runs,
Whisper's word confidence) drive fluency and pronunciation, which written data cannot
calibrate.

One score->CEFR table, replacing the original's three (domain.md 1.12):

    A1 [0, 40)   A2 [40, 55)   B1 [55, 70)   B2 [70, 80)   C1 [80, 90)   C2 [90, 100]

The overall score is the calibrated level placed inside its band, so ``level_for(overall)``
always equals the level reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from domain.level_tests import CEFR_LEVELS
from workers.cefr_features import TEXT_FEATURES, speech_features, text_features

BANDS = (0, 40, 55, 70, 80, 90, 101)
"""Lower bounds of A1..C2 on the 0-100 scale (and an upper sentinel)."""
CALIBRATION = Path(__file__).with_name("cefr_calibration.json")
STRONG, WEAK = 70, 50


def level_for(overall: float) -> str:
    """The one score->CEFR table."""
    index = max(i for i, low in enumerate(BANDS[:-1]) if overall >= low)
    return CEFR_LEVELS[index]


def overall_for(level_value: float) -> int:
    """A continuous level (1 = A1 .. 6 = C2) as a 0-100 score inside its band."""
    index = min(max(round(level_value) - 1, 0), 5)
    within = min(max(level_value - (index + 1) + 0.5, 0.0), 0.999)
    high = 100 if index == 5 else BANDS[index + 1]
    return int(BANDS[index] + within * (high - BANDS[index]))


def _scale(value: float, zero: float, full: float) -> float:
    """``zero`` maps to 0 and ``full`` to 100 (either may be larger), clamped."""
    return min(max(100 * (value - zero) / (full - zero), 0.0), 100.0)


@cache
def _calibration() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CALIBRATION.read_text())
    if data["features"] != list(TEXT_FEATURES):
        raise RuntimeError("cefr_calibration.json does not match the feature set; refit it")
    return data


def calibrated_level(features: dict[str, float]) -> float:
    c = _calibration()
    value = c["intercept"] + sum(
        w * (features[name] - m) / s
        for name, w, m, s in zip(c["features"], c["weights"], c["mean"], c["std"], strict=True)
    )
    return float(min(max(value, 1.0), 6.0))


@dataclass(frozen=True)
class Answer:
    prompt: str
    text: str
    words: list[list[Any]]
    """``[word, start, end, probability]`` rows from Whisper."""


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
    answers: list[Answer], language: str, relevance: list[float] | None = None
) -> dict[str, Any]:
    """The ``LevelAssessed`` fields (less ids) for a test's transcribed answers.
    ``relevance`` is each answer's similarity to its prompt (0..1), if known."""
    text = " ".join(a.text for a in answers)
    features = text_features(text, language)
    timed = [w for a in answers for w in a.words]
    speech = speech_features(timed)
    value = calibrated_level(features)
    overall = overall_for(value)
    topic = sum(relevance) / len(relevance) if relevance else None
    scores = subscores(features, speech if timed else None, topic, overall)
    rounded = {k: round(v) for k, v in scores.items()}
    words = len([w for w in text.split() if w])
    confidence = round(
        100 * min(1.0, words / 80) * (1 - _calibration()["leave_one_out"]["rmse"] / 3)
    )
    measured = {**features, **speech, "level_value": value}
    if topic is not None:
        measured["relevance"] = topic
    return {
        "level": level_for(overall),
        "overall": overall,
        "scores": rounded,
        "strengths": [_why(k, measured, strong=True) for k, v in rounded.items() if v >= STRONG],
        "improvements": [_why(k, measured, strong=False) for k, v in rounded.items() if v <= WEAK],
        "feedback": _feedback(level_for(overall), rounded, measured, words),
        "confidence": max(min(confidence, 100), 0),
        "features": {k: round(float(v), 4) for k, v in measured.items()},
        "scorer_version": _calibration()["version"],
    }  # fmt: skip


def _why(area: str, f: dict[str, float], *, strong: bool) -> str:
    """A strength or an improvement, saying which measurement it rests on."""
    evidence = {
        "vocabulary": f"diversity {f['mattr']:.2f}, {100 * f['rare_share']:.0f}% less common words",
        "grammar": f"{f['sentence_length']:.1f} words a sentence, "
        f"{f['subordination']:.1f} linked clauses",
        "fluency": f"{f['speech_rate']:.0f} words a minute, "
        f"{f['pauses_per_minute']:.0f} long pauses a minute",
        "pronunciation": f"recognised with {100 * f['clarity']:.0f}% average confidence",
        "coherence": f"{f['connectives']:.1f} linking words per 100 words",
        "interaction": f"relevance {f.get('relevance', 0):.2f} to the question",
    }[area]
    return f"{area}: {evidence}" if strong else f"{area}: work on this ({evidence})"


def _feedback(level: str, scores: dict[str, int], f: dict[str, float], words: int) -> str:
    best = max(scores, key=lambda k: scores[k])
    worst = min(scores, key=lambda k: scores[k])
    return (
        f"Estimated level {level} from {words} words of speech. Your strongest area is {best} "
        f"({scores[best]}/100); the area to work on next is {worst} ({scores[worst]}/100). "
        f"You spoke at about {f['speech_rate']:.0f} words a minute with sentences of "
        f"{f['sentence_length']:.0f} words on average."
    )

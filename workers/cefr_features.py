"""Measurable features of a spoken answer, from its transcript and Whisper's word timings.

Text features (what was said): length, lexical diversity (moving-average type-token ratio,
which does not fall with length as the plain ratio does), lexical sophistication (share of
words rarer than Zipf 4 in the ``wordfreq`` lists, i.e. rarer than once per ten thousand
words), mean word length, sentence length and subordination, connectives, disfluencies.
Speech features (how it was said): speech rate, pauses, mean length of run (words between
pauses), and Whisper's word confidence as a clarity proxy.

Whisper smooths learner speech ("I am" -> "I'm", fillers dropped), so fluency reads the
timings, not the text. Everything here is deterministic and cheap.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

PAUSE_SECONDS = 0.4
MATTR_WINDOW = 25
RARE_ZIPF = 4.0
WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*", re.UNICODE)
SENTENCE_END = re.compile(r"[.!?\u3002\uff1f\uff01]+|\n+")  # also CJK full stops
SUBORDINATORS = {
    "en": {"because", "although", "though", "which", "who", "whom", "whose", "that", "when",
           "while", "if", "unless", "since", "whereas", "whether", "where", "after", "before",
           "until", "so that", "even"},
}  # fmt: skip
CONNECTIVES = {
    "en": {"however", "therefore", "moreover", "furthermore", "first", "firstly", "second",
           "finally", "also", "then", "besides", "instead", "overall", "example", "addition",
           "contrast", "consequently", "meanwhile"},
}  # fmt: skip
FILLERS = {"en": {"um", "uh", "er", "erm", "hmm", "ah", "eh", "mm"},
           "ko": {"음", "어", "그", "저기", "아"}}  # fmt: skip
TEXT_FEATURES = ("log_words", "mattr", "rare_share", "word_length", "sentence_length",
                 "subordination", "connectives")  # fmt: skip


def words_of(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


@cache
def _zipf(word: str, language: str) -> float:
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, language))


def mattr(words: Sequence[str], window: int = MATTR_WINDOW) -> float:
    if not words:
        return 0.0
    if len(words) <= window:
        return len(set(words)) / len(words)
    ratios = [len(set(words[i : i + window])) / window for i in range(len(words) - window + 1)]
    return sum(ratios) / len(ratios)


def text_features(text: str, language: str) -> dict[str, float]:
    words = words_of(text)
    sentences = [s for s in SENTENCE_END.split(text) if words_of(s)] or [text]
    count = max(len(words), 1)
    lowered = " " + " ".join(words) + " "
    subordinators = SUBORDINATORS.get(language, set())
    connectives = CONNECTIVES.get(language, set())
    return {
        "log_words": math.log1p(len(words)),
        "mattr": mattr(words),
        "rare_share": sum(1 for w in words if _zipf(w, language) < RARE_ZIPF) / count,
        "word_length": sum(len(w) for w in words) / count,
        "sentence_length": len(words) / len(sentences),
        "subordination": sum(lowered.count(f" {s} ") for s in subordinators) / len(sentences),
        "connectives": 100 * sum(1 for w in words if w in connectives) / count,
        "fillers": 100 * sum(1 for w in words if w in FILLERS.get(language, set())) / count,
        "repetitions": 100 * sum(1 for a, b in itertools.pairwise(words) if a == b) / count,
    }


def speech_features(words: Sequence[Sequence[Any]]) -> dict[str, float]:
    """From ``[word, start, end, probability]`` rows (empty: zeros)."""
    if len(words) < 2:
        return {"speech_rate": 0.0, "pauses_per_minute": 0.0, "mean_length_of_run": 0.0,
                "mean_pause": 0.0, "clarity": float(words[0][3]) if words else 0.0}  # fmt: skip
    speaking = max(float(words[-1][2]) - float(words[0][1]), 0.1)
    gaps = [float(b[1]) - float(a[2]) for a, b in itertools.pairwise(words)]
    pauses = [g for g in gaps if g >= PAUSE_SECONDS]
    return {
        "speech_rate": 60 * len(words) / speaking,
        "pauses_per_minute": 60 * len(pauses) / speaking,
        "mean_length_of_run": len(words) / (len(pauses) + 1),
        "mean_pause": sum(pauses) / len(pauses) if pauses else 0.0,
        "clarity": sum(float(w[3]) for w in words) / len(words),
    }

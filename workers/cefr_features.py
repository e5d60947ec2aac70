"""Measurable features of a spoken answer, from its transcript and Whisper's word timings.

Text features (what was said): length, lexical diversity (moving-average type-token ratio,
which does not fall with length as the plain ratio does), lexical sophistication (share of
words rarer than Zipf 4 in the ``wordfreq`` lists, i.e. rarer than once per ten thousand
words), mean word length, sentence length and subordination, connectives, disfluencies.
Speech features (how it was said): speech rate, pauses, mean length of run (words between
pauses), and Whisper's word confidence as a clarity proxy.

Whisper smooths learner speech ("I am" -> "I'm", fillers dropped), so fluency reads the
timings, not the text. Everything here is deterministic and cheap.

Korean: a written word (eojeol) is a stem plus particles or endings ("학교에", "만나요"), and
wordfreq's Korean lookup needs the MeCab tokenizer, which we do not ship. So a Korean word's
frequency is that of its longest prefix in wordfreq's Korean list ("학교에" -> "학교"; the
prefix must be at least half the word, or "경제학적으로" would pass as the common "경제"), and
subordination counts the clause-linking endings (-지만, -는데, -니까, -아서/-어서, ...).
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
SUBORDINATE_ENDINGS = {
    "ko": ("지만", "는데", "은데", "니까", "어서", "아서", "해서", "면서", "도록", "려고",
           "다가", "으면", "때문에", "는지", "다면"),
}  # fmt: skip
CONNECTIVES["ko"] = {"그리고", "그래서", "하지만", "그러나", "그런데", "또한", "따라서",
                     "그러므로", "게다가", "결국", "먼저", "예를", "반면에", "특히"}  # fmt: skip
PREFIX_LOOKUP = {"ko"}
"""Languages whose words are looked up by longest known prefix (see above)."""
FILLERS = {"en": {"um", "uh", "er", "erm", "hmm", "ah", "eh", "mm"},
           "ko": {"음", "어", "그", "저기", "아"}}  # fmt: skip
TEXT_FEATURES = ("log_words", "mattr", "rare_share", "word_length", "sentence_length",
                 "subordination", "connectives")  # fmt: skip


def words_of(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


@cache
def _zipf(word: str, language: str) -> float:
    from wordfreq import zipf_frequency

    if language not in PREFIX_LOOKUP:
        return float(zipf_frequency(word, language))
    frequencies = _frequencies(language)
    for end in range(len(word), (len(word) - 1) // 2, -1):  # at least half the word
        if word[:end] in frequencies:
            return math.log10(frequencies[word[:end]]) + 9
    return 0.0


@cache
def _frequencies(language: str) -> dict[str, float]:
    from wordfreq import get_frequency_dict

    return dict(get_frequency_dict(language))


def _subordinate_clauses(words: Sequence[str], language: str) -> int:
    lowered = " " + " ".join(words) + " "
    endings = SUBORDINATE_ENDINGS.get(language, ())
    return sum(lowered.count(f" {s} ") for s in SUBORDINATORS.get(language, set())) + sum(
        1 for w in words if len(w) > 2 and w.endswith(endings)
    )


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
    connectives = CONNECTIVES.get(language, set())
    return {
        "log_words": math.log1p(len(words)),
        "mattr": mattr(words),
        "rare_share": sum(1 for w in words if _zipf(w, language) < RARE_ZIPF) / count,
        "word_length": sum(len(w) for w in words) / count,
        "sentence_length": len(words) / len(sentences),
        "subordination": _subordinate_clauses(words, language) / len(sentences),
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

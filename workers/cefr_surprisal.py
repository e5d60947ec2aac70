"""How predictable an answer's words are to the language model (issue 21, third and fourth
rounds).

Length and the CEFR profiles place an answer between A2 and B2 well and then stop rising:
a C1 answer uses words and structures a B2 one also has, but strings them the way fluent
writers do, and an A1 answer breaks the ordinary order of words. A language model reads
both: per token, the surprisal of the transcript after the examiner prompt
(:meth:`LanguageModel.token_surprisals`). Two features come from it:

- ``lm_surprisal_trimmed``: mean surprisal per token over the tokens of known words, leaving
  out the answer's most surprising fifth of words (by surprisal per token);
- ``lm_excess_median``: the median over known words of the word's surprisal minus its
  unigram surprisal from ``wordfreq``: how much less expected a word is in its place than
  its rarity alone says (rare words are the profiles' business; misplaced common ones are
  this feature's).

Speech and text must land on the same level, and a transcript is not the learner's text.
Whisper writes neither a learner's punctuation nor their misspellings, so the model reads the
words only (``words_of``: lowercased, punctuation and digits gone; "i" written "I"), and
words ``wordfreq`` does not know (in written answers mostly misspellings, which a transcript
does not have) count in neither feature. Whisper also mishears, and a misheard word is a real,
common word in an unexpected place: exactly what these features read as a weaker learner
(the mean and 90th percentile of the first reading put espeak-ng speech 0.20 of a level
below its text). So the aggregates are robust ones (a trimmed mean and a median), and the
words Whisper was unsure of (``UNSURE``), with the word after each, whose context they
spoiled, count in neither feature; the model still reads them, since leaving them out of its
input broke the context of the words around them (measured: worse). English only: the
packaged models read English; elsewhere the calibration's mean stands in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Any

import numpy as np

from workers.cefr_features import words_of, zipf
from workers.llm import TRANSCRIPT_CHARS, LanguageModel

SURPRISAL_FEATURES = ("lm_surprisal_trimmed", "lm_excess_median")
LANGUAGES = {"en"}
NATS_PER_ZIPF = math.log(10)
UNSURE = 0.5
"""Whisper's word probability under which a heard word may be a mishearing."""
TRIMMED = 80
"""The percentile of surprisal per token above which words leave the trimmed mean."""


def reading(text: str) -> tuple[str, list[str]]:
    """What the model reads: the words, space-separated, and the words themselves, as many
    as fit the model's transcript limit (``TRANSCRIPT_CHARS``), cut at a word so that the
    model reads every word it is given whole and the tokens map back onto them."""
    words = words_of(text)
    shown = ["I" + w[1:] if w == "i" or w.startswith(("i'", "i\u2019")) else w for w in words]
    length, fit = -1, 0
    for word in shown:
        length += len(word) + 1
        if length > TRANSCRIPT_CHARS:
            break
        fit += 1
    return " ".join(shown[:fit]), words[:fit]


def word_surprisals(model: LanguageModel, text: str) -> list[tuple[str, float, int]]:
    """Each word the model reads (``reading``: the first words of ``words_of(text)``) with
    the summed surprisal of its tokens and their number. A token belongs to the word its
    first non-space byte falls in (byte-level BPE tokens carry the space before a word)."""
    line, words = reading(text)
    pieces = model.token_surprisals(line)
    ends = np.cumsum([len(w.encode()) + 1 for w in words])  # each word and its space
    sums, counts = [0.0] * len(words), [0] * len(words)
    offset = len(line.encode()) - sum(len(piece) for piece, _ in pieces)
    for piece, surprisal in pieces:
        first = offset + len(piece) - len(piece.lstrip(b" "))
        index = min(int(np.searchsorted(ends, first, side="right")), len(words) - 1)
        sums[index] += surprisal
        counts[index] += 1
        offset += len(piece)
    return list(zip(words, sums, counts, strict=True))


def trusted(text: str, heard: Sequence[Sequence[Any]]) -> list[bool]:
    """For each word of ``words_of(text)`` (a transcript's), whether it and the word before it
    were heard with probability ``UNSURE`` or more. ``heard`` holds Whisper's ``[word, start,
    end, probability]`` rows; they are aligned to the words by their own ``words_of`` (a row
    may hold two words, or split one), a word matched to several rows taking the least sure,
    and a word no row matches counting as unsure. Without rows (a written answer) every word
    is trusted."""
    words = words_of(text)
    if not heard:
        return [True] * len(words)
    pieces = [(w, float(row[3])) for row in heard for w in words_of(str(row[0]))]
    sure = [False] * len(words)
    matcher = SequenceMatcher(None, words, [w for w, _ in pieces], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                sure[i] = pieces[j][1] >= UNSURE
        elif tag == "replace":
            least = min(p for _, p in pieces[j1:j2])
            for i in range(i1, i2):
                sure[i] = least >= UNSURE
    return [s and (i == 0 or sure[i - 1]) for i, s in enumerate(sure)]


def surprisal_features(model: LanguageModel, text: str, language: str,
                       trust: Sequence[bool] = ()) -> dict[str, float]:  # fmt: skip
    """``SURPRISAL_FEATURES`` for the answer, or nothing (the fit's mean stands in) for a
    language the model does not read or an answer without a known, trusted word. ``trust``
    holds a flag per word of ``words_of(text)`` (``trusted``, per answer of a test); without
    it (a written answer) every word is the learner's."""
    if language not in LANGUAGES:
        return {}
    read = word_surprisals(model, text)
    keep = list(trust) or [True] * len(read)
    if len(keep) < len(read):
        raise ValueError("trust needs a flag for every word of the text")
    known = [(s, c, zipf(w, language)) for (w, s, c), k in zip(read, keep, strict=False) if k and c]
    known = [(s, c, z) for s, c, z in known if z > 0]
    if not known:
        return {}
    per_token = [s / c for s, c, _ in known]
    cut = float(np.percentile(per_token, TRIMMED))
    kept = [(s, c) for (s, c, _), p in zip(known, per_token, strict=True) if p <= cut]
    excess = [s - NATS_PER_ZIPF * (9 - z) for s, _, z in known]
    return {
        "lm_surprisal_trimmed": sum(s for s, _ in kept) / sum(c for _, c in kept),
        "lm_excess_median": float(np.median(excess)),
    }

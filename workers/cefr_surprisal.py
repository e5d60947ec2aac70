"""How predictable an answer's words are to the language model (issue 21's third round).

Length and the CEFR profiles place an answer between A2 and B2 well and then stop rising:
a C1 answer uses words and structures a B2 one also has, but strings them the way fluent
writers do, and an A1 answer breaks the ordinary order of words. A language model reads
both: per token, the surprisal of the transcript after the examiner prompt
(:meth:`LanguageModel.token_surprisals`). Two features come from it:

- ``lm_surprisal``: mean surprisal per token (nats), over the tokens of known words;
- ``lm_excess_p90``: the 90th percentile over known words of the word's surprisal minus its
  unigram surprisal from ``wordfreq``: how much less expected a word is in its place than
  its rarity alone says, at the answer's least fitting words (rare words are the profiles'
  business; misplaced common ones are this feature's).

Speech and text must land on the same level, and Whisper writes neither a learner's
punctuation nor their misspellings. So the model reads the words only (``words_of``:
lowercased, punctuation and digits gone; "i" written "I"), and words ``wordfreq`` does not
know (in written answers mostly misspellings, which a transcript does not have) count in
neither feature. English only: the packaged models read English; elsewhere the
calibration's mean stands in.
"""

from __future__ import annotations

import math

import numpy as np

from workers.cefr_features import words_of, zipf
from workers.llm import LanguageModel

SURPRISAL_FEATURES = ("lm_surprisal", "lm_excess_p90")
LANGUAGES = {"en"}
NATS_PER_ZIPF = math.log(10)


def reading(text: str) -> tuple[str, list[str]]:
    """What the model reads: the words, space-separated, and the words themselves."""
    words = words_of(text)
    shown = ["I" + w[1:] if w == "i" or w.startswith(("i'", "i\u2019")) else w for w in words]
    return " ".join(shown), words


def word_surprisals(model: LanguageModel, text: str) -> list[tuple[str, float, int]]:
    """Each word with the summed surprisal of its tokens and their number. A token belongs
    to the word its first non-space byte falls in (byte-level BPE tokens carry the space
    before a word)."""
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
    return [(w, s, c) for w, s, c in zip(words, sums, counts, strict=True) if c]


def surprisal_features(model: LanguageModel, text: str, language: str) -> dict[str, float]:
    """``SURPRISAL_FEATURES`` for the answer, or nothing (the fit's mean stands in) for a
    language the model does not read or an answer without known words."""
    if language not in LANGUAGES:
        return {}
    known = [(s, c, zipf(w, language)) for w, s, c in word_surprisals(model, text)]
    known = [(s, c, z) for s, c, z in known if z > 0]
    if not known:
        return {}
    excess = [s - NATS_PER_ZIPF * (9 - z) for s, _, z in known]
    return {
        "lm_surprisal": sum(s for s, _, _ in known) / sum(c for _, c, _ in known),
        "lm_excess_p90": float(np.percentile(excess, 90)),
    }

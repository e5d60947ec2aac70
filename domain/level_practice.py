"""What a learner should practise next, as rules over measured features.

Pure rules over numbers the scorer already measured (``workers/cefr_features.py``), so the
API's detailed result and the conversation feedback worker give the same advice without
the API importing worker code. Each rule names what it saw.
"""

from __future__ import annotations

import math


def suggestions(features: dict[str, float], language: str) -> list[str]:
    """What to practise, from the measurements."""
    out = []
    words = math.expm1(features["log_words"])
    if features["fillers"] >= 5:
        out.append(f"{features['fillers']:.0f} of every 100 words are fillers (um, uh): "
                   "pause silently instead.")  # fmt: skip
    if features["repetitions"] >= 3:
        out.append("Some words are repeated back to back; finish the thought, then go on.")
    if words >= 12 and features["sentence_length"] < 7:
        out.append("Your sentences are short: join two ideas with because, although or when.")
    if words >= 30 and features["mattr"] < 0.65:
        out.append("Many words repeat across the message: try a synonym for the commonest ones.")
    if language == "en" and words >= 30 and features["connectives"] == 0:
        out.append("Add linking words (however, for example, finally) to guide the listener.")
    if words < 12:
        out.append("Say a little more: two or three full sentences show more of what you can do.")
    return out

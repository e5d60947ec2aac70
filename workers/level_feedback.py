"""Feedback wording for learners, grounded in what was measured.

The scorer states the facts itself (level, strongest and weakest area with the numbers
behind them). The language model only adds wording on top: one sentence of advice for an
assessed test (the facts already say what went well), or corrections of sentences a learner
actually said in a conversation. Its output is constrained to a JSON schema with bounded
strings and then checked: advice that mentions a number or a level not among the facts, or
a "correction" of words the learner never said, is dropped. Without a model (or when it is
dropped) the learner still gets the facts. (The practice suggestions
are rules over the measured features: ``domain/level_practice.py``.)
"""

from __future__ import annotations

import math
from typing import Any

from workers.llm import FEEDBACK_CHARS, LanguageModel, grounded

FEEDBACK_SCHEMA = {
    "type": "object",
    "properties": {"advice": {"type": "string", "minLength": 10, "maxLength": FEEDBACK_CHARS}},
    "required": ["advice"],
}
MIN_WORDS_FOR_STRENGTH = 20
"""Below this many words no area is called a strength: a score resting on a sentence or two
(relevance to the question, speech rate over a few seconds) says too little to praise."""
CORRECTION_SCHEMA = {
    "type": "object",
    "properties": {
        "corrections": {
            "type": "array",
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "original": {"type": "string", "maxLength": 120},
                    "correction": {"type": "string", "maxLength": 120},
                    "explanation": {"type": "string", "maxLength": 160},
                },
                "required": ["original", "correction", "explanation"],
            },
        }
    },
    "required": ["corrections"],
}
ADVISE = (
    "Measured facts about this answer: {facts}\nInstead of a level, write 'advice' to the "
    "learner: one friendly sentence with one concrete way to improve the area to work on. "
    "Use only these facts; add no numbers, levels or other claims. Reply in JSON."
)
CORRECT = (
    "Instead of a level, quote up to three sentences of this transcript that contain a "
    "grammar or word-choice mistake, exactly as written, each with a corrected version and a "
    "short explanation. Quote nothing that is already correct. Reply in JSON."
)


def measured_facts(
    level: str, scores: dict[str, int], evidence: dict[str, str], measured: dict[str, float]
) -> str:
    """The scorer's own summary: every claim in it is a measurement."""
    words = round(math.expm1(measured["log_words"]))
    speech_rate, sentence_length = measured["speech_rate"], measured["sentence_length"]
    best = max(scores, key=lambda k: scores[k])
    worst = min(scores, key=lambda k: scores[k])
    rate = f"You spoke at about {speech_rate:.0f} words a minute with" if speech_rate else "With"
    strongest = (
        f"Your strongest area is {best} ({scores[best]}/100: {evidence[best]}); the area"
        if words >= MIN_WORDS_FOR_STRENGTH
        else "That is too little to name a strongest area; the area"
    )
    return (
        f"Estimated level {level} from {words} words. {strongest} to work on next is {worst} "
        f"({scores[worst]}/100: {evidence[worst]}). {rate} sentences of "
        f"{sentence_length:.0f} words on average."
    )


def assessment_feedback(
    model: LanguageModel | None, transcript: str, facts: str
) -> tuple[str, str]:
    """The feedback text and its source: ``llm`` when the model's advice passed the
    grounding check and was added to the facts, else ``measured`` (the facts alone)."""
    if model is None:
        return facts, "measured"
    reply = model.json_reply(transcript, ADVISE.format(facts=facts), FEEDBACK_SCHEMA,
                             max_tokens=FEEDBACK_CHARS)  # fmt: skip
    advice = kept_advice(reply, facts)
    return (f"{facts} {advice}", "llm") if advice else (facts, "measured")


def kept_advice(reply: Any, facts: str) -> str | None:
    """The reply's advice, cut after its last whole sentence (the length bound can stop a
    model mid-sentence), if it claims nothing beyond ``facts``."""
    advice = _str(reply, "advice").strip()
    end = max(advice.rfind(mark) for mark in ".!?")
    advice = advice[: end + 1] if end >= 0 else ""
    return advice if advice and grounded(advice, facts) else None


def corrections(model: LanguageModel | None, message: str) -> list[dict[str, str]]:
    """Model-proposed corrections that pass :func:`kept_corrections`; none without a model."""
    if model is None or not message.strip():
        return []
    return kept_corrections(model.json_reply(message, CORRECT, CORRECTION_SCHEMA, 400), message)


def kept_corrections(reply: Any, message: str) -> list[dict[str, str]]:
    """The corrections of a model reply that quote the learner verbatim (whitespace and
    case aside), actually change it, and bring no number or level the message lacks."""
    items = reply.get("corrections") if isinstance(reply, dict) else None
    kept = []
    lowered = " ".join(message.lower().split())
    for item in items if isinstance(items, list) else []:
        original = " ".join(_str(item, "original").split())
        correction = " ".join(_str(item, "correction").split())
        explanation = _str(item, "explanation").strip()
        if (
            len(original) >= 3
            and original.lower() in lowered
            and correction
            and correction.lower() != original.lower()
            and grounded(f"{correction} {explanation}", message)
        ):
            kept.append({"original": original, "correction": correction,
                         "explanation": explanation})  # fmt: skip
    return kept


def _str(reply: Any, key: str) -> str:
    value = reply.get(key) if isinstance(reply, dict) else None
    return value if isinstance(value, str) else ""

"""Feedback wording for learners, grounded in what was measured.

The scorer states the facts itself (level, strongest and weakest area with the numbers
behind them). The language model only adds wording on top: one sentence of praise and one
of advice for an assessed test, or corrections of sentences a learner actually said in a
conversation. Its output is constrained to a JSON schema with bounded strings and then
checked: a sentence that mentions a number or a level not among the facts, or a
"correction" of words the learner never said, is dropped. Without a model (or when every
sentence is dropped) the learner still gets the facts.
"""

from __future__ import annotations

import math
from typing import Any

from workers.llm import FEEDBACK_CHARS, LanguageModel, grounded

SENTENCE = {"type": "string", "minLength": 10, "maxLength": FEEDBACK_CHARS}
FEEDBACK_SCHEMA = {
    "type": "object",
    "properties": {"praise": SENTENCE, "advice": SENTENCE},
    "required": ["praise", "advice"],
}
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
TEACHER = (
    "You are a friendly language teacher writing to a learner. Use only the facts given. "
    "Do not add numbers, levels or claims that are not in the facts. Reply in JSON."
)
CORRECTOR = (
    "You are a language teacher. Quote up to three sentences from the learner's message that "
    "contain a grammar or word-choice mistake, exactly as written, with a corrected version "
    "and a short explanation. Quote nothing that is already correct. Reply in JSON."
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
    return (
        f"Estimated level {level} from {words} words. Your strongest area is {best} "
        f"({scores[best]}/100: {evidence[best]}); the area to work on next is {worst} "
        f"({scores[worst]}/100: {evidence[worst]}). {rate} sentences of "
        f"{sentence_length:.0f} words on average."
    )


def assessment_feedback(model: LanguageModel | None, facts: str) -> tuple[str, str]:
    """The feedback text and its source: ``llm`` when the model's wording passed the
    grounding check and was added to the facts, else ``measured`` (the facts alone)."""
    if model is None:
        return facts, "measured"
    reply = model.json_reply(
        TEACHER,
        f"Facts about the learner's spoken answer: {facts}\nWrite 'praise' (one sentence on "
        "the strongest area) and 'advice' (one sentence: one concrete way to improve the area "
        "to work on).",
        FEEDBACK_SCHEMA,
        max_tokens=2 * FEEDBACK_CHARS,
    )
    kept = kept_sentences(reply, facts)
    if not kept:
        return facts, "measured"
    return f"{facts} {' '.join(kept)}", "llm"


def kept_sentences(reply: Any, facts: str) -> list[str]:
    """The praise and advice of a model reply that claim nothing beyond ``facts``."""
    sentences = (_str(reply, "praise").strip(), _str(reply, "advice").strip())
    return [s for s in sentences if s and grounded(s, facts)]


def corrections(model: LanguageModel | None, message: str) -> list[dict[str, str]]:
    """Model-proposed corrections that pass :func:`kept_corrections`; none without a model."""
    if model is None or not message.strip():
        return []
    return kept_corrections(
        model.json_reply(CORRECTOR, message, CORRECTION_SCHEMA, max_tokens=400), message
    )


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

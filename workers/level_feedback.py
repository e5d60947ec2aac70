"""Feedback wording for learners, grounded in what was measured.

The scorer states the facts itself (level, strongest and weakest area with the numbers
behind them). The language model only adds wording on top: one sentence of advice for an
assessed test (the facts already say what went well), or corrections of sentences a learner
actually said in a conversation. Its output is constrained to a JSON schema with bounded
strings and then checked sentence by sentence: only advice to the learner is kept (an
imperative or a "you could/should" suggestion, with no first-person narration, no quotation
and no report of what the learner said, since a small model readily writes as the learner:
"In my free time, I love traveling"), and nothing with a number or a level not among the
facts; a "correction" of words the learner never said, one that adds more than a few words,
or one whose explanation speaks as "I", is dropped. Without a model (or when all of it is
dropped) the learner still gets the facts. (The practice suggestions
are rules over the measured features: ``domain/level_practice.py``.)
"""

from __future__ import annotations

import math
import re
from typing import Any

from workers.llm import FEEDBACK_CHARS, LanguageModel, grounded

FEEDBACK_SCHEMA = {
    "type": "object",
    "properties": {"advice": {"type": "string", "minLength": 10, "maxLength": FEEDBACK_CHARS}},
    "required": ["advice"],
}
FIRST_PERSON = re.compile(r"\b(?:I|me|my|mine|myself)\b|\bI['\u2019]", re.I)
"""First-person singular: the model narrating as the learner (or as itself)."""
QUOTE_MARKS = r"\"\u201c\u201d\u00ab\u00bb"
QUOTED = re.compile(rf"[{QUOTE_MARKS}]|(?<!\w)['\u2018][^'\u2019]+['\u2019](?!\w)")
REPORTED = re.compile(r"\byou(?:'ve)? (?:said|mentioned|told|talked|wrote|described|stated)\b",
                      re.I)  # fmt: skip
SUGGESTION = re.compile(
    r"\byou(?:'ll|'d| can| could| should| might| may| will| need to| want to)\b|\b(?:try|let's)\b",
    re.I,
)
IMPERATIVES = frozenset((
    "add", "aim", "ask", "avoid", "build", "challenge", "check", "choose", "connect",
    "consider", "continue", "describe", "do", "don't", "explain", "expand", "focus", "give",
    "include", "join", "keep", "learn", "link", "listen", "look", "make", "note", "pause",
    "plan", "practice", "practise", "read", "record", "remember", "repeat", "say", "set",
    "slow", "speak", "spend", "start", "take", "talk", "think", "use", "vary", "watch", "work",
    "write",
))  # fmt: skip
"""Verbs that open advice (the model is asked for one concrete way to improve)."""
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
    """The sentences of the reply's advice that advise the learner and claim nothing beyond
    ``facts``, or None if no sentence does. The advice is first cut after its last whole
    sentence (the length bound can stop a model mid-sentence)."""
    advice = _str(reply, "advice").strip()
    end = max(advice.rfind(mark) for mark in ".!?")
    sentences = re.split(r"(?<=[.!?])\s+", advice[: end + 1]) if end >= 0 else []
    kept = [s for s in sentences if _advises(s) and grounded(s, facts)]
    return " ".join(kept) or None


def _advises(sentence: str) -> bool:
    """Whether a sentence is advice to the learner: a suggestion addressed to them or an
    imperative (after an opening phrase such as "To sound more natural,"), with no
    first-person narration, nothing in quotes and no account of what the learner said."""
    if FIRST_PERSON.search(sentence) or QUOTED.search(sentence) or REPORTED.search(sentence):
        return False
    openings = [part.split(maxsplit=1) for part in sentence.split(",")]
    return bool(SUGGESTION.search(sentence)) or any(
        words and words[0].lower().strip(".!?;:") in IMPERATIVES for words in openings
    )


def corrections(model: LanguageModel | None, message: str) -> list[dict[str, str]]:
    """Model-proposed corrections that pass :func:`kept_corrections`; none without a model."""
    if model is None or not message.strip():
        return []
    return kept_corrections(model.json_reply(message, CORRECT, CORRECTION_SCHEMA, 400), message)


def kept_corrections(reply: Any, message: str) -> list[dict[str, str]]:
    """The corrections of a model reply that quote the learner verbatim (whitespace and
    case aside), actually change it without adding content (at most three new words, or half
    the original's length), bring no number or level the message lacks, and explain without
    speaking as "I" outside quotes (the model inventing a story, not explaining a fix)."""
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
            and _adds_little(original, correction)
            and not FIRST_PERSON.search(QUOTED_TEXT.sub(" ", explanation))
        ):
            kept.append({"original": original, "correction": correction,
                         "explanation": explanation})  # fmt: skip
    return kept


QUOTED_TEXT = re.compile(
    rf"[{QUOTE_MARKS}][^{QUOTE_MARKS}]*[{QUOTE_MARKS}]|(?<!\w)['\u2018][^'\u2019]+['\u2019](?!\w)"
)


def _adds_little(original: str, correction: str) -> bool:
    old = {w.strip(".,!?;:").lower() for w in original.split()}
    new = [w for w in correction.split() if w.strip(".,!?;:").lower() not in old]
    return len(new) <= max(3, len(old) // 2)


def _str(reply: Any, key: str) -> str:
    value = reply.get(key) if isinstance(reply, dict) else None
    return value if isinstance(value, str) else ""

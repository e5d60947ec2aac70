"""The level harness's statistics (bench/cefr_stats.py): ties, intervals, the paired
comparison, per-level figures and the nested selection."""

from __future__ import annotations

import numpy as np
import pytest

from bench.cefr_stats import (
    Ridge,
    agreement,
    apply_cuts,
    average_ranks,
    bootstrap,
    class_weights,
    ends,
    fit_cuts,
    folds,
    macro_recall,
    nested,
    per_level,
    quadratic_kappa,
    spearman,
)


def test_tied_values_share_their_mean_rank_and_spearman_ignores_item_order() -> None:
    assert list(average_ranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0]))) == [4.0, 1.0, 4.0, 2.0, 4.0]
    truth = np.array([1, 2, 2, 3, 3, 3, 4, 4, 5, 6], float)
    guess = np.array([2, 2, 2, 3, 4, 3, 3, 4, 4, 4], float)
    # scipy.stats.spearmanr(truth, guess).statistic on these ties, by hand:
    # Pearson of ranks [1, 2.5, 2.5, 5, 5, 5, 7.5, 7.5, 9, 10] and [2, 2, 2, 5, 8.5, 5, 5, 8.5,
    # 8.5, 8.5]
    ra = np.array([1, 2.5, 2.5, 5, 5, 5, 7.5, 7.5, 9, 10])
    rb = np.array([2, 2, 2, 5, 8.5, 5, 5, 8.5, 8.5, 8.5])
    assert spearman(truth, guess) == pytest.approx(np.corrcoef(ra, rb)[0, 1])
    rng = np.random.default_rng(1)
    shuffled = [spearman(truth[p], guess[p]) for p in (rng.permutation(10) for _ in range(20))]
    assert max(shuffled) - min(shuffled) < 1e-12  # the order of the items does not matter
    assert spearman(truth, np.full(10, 3.0)) == 0.0


def test_agreement_rounds_and_clips_the_continuous_level() -> None:
    truth = np.array([1.0, 2.0, 6.0, 4.0])
    figures = agreement(truth, np.array([1.4, 3.6, 7.5, 4.0]))
    assert figures["exact"] == 0.75  # 1.4 -> A1, 7.5 -> C2 (clipped), 4.0 -> B2
    assert figures["within_one"] == 0.75  # 3.6 -> B2 for an A2 is two levels off
    assert figures["rmse"] == pytest.approx(np.sqrt((0.16 + 2.56 + 2.25 + 0) / 4))


def test_per_level_reports_recall_signed_error_and_collapse() -> None:
    truth = np.array([1.0, 1.0, 5.0, 5.0, 6.0])
    guess = np.array([1.2, 2.1, 4.4, 5.0, 5.2])
    levels = per_level(truth, guess)
    assert levels["A1"] == {"n": 2, "recall": 0.5, "mean_signed_error": 0.65, "at_or_beyond": 0.5}
    assert levels["C1"]["recall"] == 0.5 and levels["C1"]["mean_signed_error"] == -0.3
    assert levels["C2"]["at_or_beyond"] == 0.0  # rated C1: below C2
    assert "B1" not in levels
    assert ends(truth, guess) == {"c1_c2_rated_c1_or_above": 0.667, "a1_rated_a1": 0.5}
    assert ends(np.array([3.0]), np.array([3.0])) == {
        "c1_c2_rated_c1_or_above": None, "a1_rated_a1": None}  # fmt: skip


def test_bootstrap_intervals_contain_the_figure_and_the_paired_difference_sees_a_better_guess() -> (
    None
):
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 7, 200).astype(float)
    good = truth + rng.normal(0, 0.3, 200)
    poor = truth + rng.normal(0, 1.5, 200)
    result = bootstrap(truth, good, poor, resamples=300)
    for metric in ("spearman", "exact", "within_one", "rmse"):
        low, high = result[metric]["ci95"]
        assert low <= result[metric]["value"] <= high
    assert result["minus_baseline"]["spearman"]["ci95"][0] > 0
    assert result["minus_baseline"]["rmse"]["ci95"][1] < 0
    same = bootstrap(truth, good, good, resamples=50)["minus_baseline"]["exact"]
    assert same == {"value": 0.0, "ci95": [0.0, 0.0]}


def test_folds_are_stratified_and_nested_predictions_never_see_their_answer() -> None:
    y = np.repeat(np.arange(1.0, 7.0), 10)
    fold = folds(y, 5, seed=3)
    for level in range(1, 7):
        assert sorted(np.bincount(fold[y == level], minlength=5)) == [2, 2, 2, 2, 2]
    rng = np.random.default_rng(2)
    x = np.column_stack([y + rng.normal(0, 0.5, 60), rng.normal(0, 1, 60)])
    guess, chosen = nested(x, y, outer=5, inner=4)
    assert len(chosen) == 5 and agreement(y, guess)["spearman"] > 0.8
    # selection inside the outer training folds: pure noise earns no skill out of fold
    noise = rng.normal(0, 1, (60, 1))
    assert abs(agreement(y, nested(noise, y, outer=5, inner=4)[0])["spearman"]) < 0.4


def test_the_stretch_scales_the_deviation_from_the_mean_level() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([2.0, 3.0, 4.0, 5.0])
    plain, stretched = Ridge.fit(x, y, 1.0), Ridge.fit(x, y, 1.0, stretch=1.5)
    assert plain.intercept == stretched.intercept == 3.5
    deviation = plain.predict(x) - 3.5
    assert stretched.predict(x) - 3.5 == pytest.approx(1.5 * deviation)


def test_cut_points_map_to_level_boundaries_and_keep_the_value_continuous() -> None:
    cuts = [1.0, 2.0, 3.0, 3.5, 4.0]
    raw = np.array([0.0, 0.5, 1.0, 1.5, 3.0, 3.25, 4.0, 4.25, 9.0])
    assert list(apply_cuts(raw, cuts)) == [1.0, 1.0, 1.5, 2.0, 3.5, 4.0, 5.5, 6.0, 6.0]


def test_cut_points_fitted_for_macro_recall_lift_a_rare_level_that_rounding_misses() -> None:
    # Ten B1 answers and three A1 answers whose outputs ridge has pulled up to 1.7-1.9.
    truth = np.array([1.0] * 3 + [3.0] * 10)
    raw = np.array([1.7, 1.8, 1.9] + [2.6 + 0.08 * i for i in range(10)])
    assert macro_recall(truth, np.clip(np.rint(raw), 1, 6)) == 0.5  # A1 read as A2
    cuts = fit_cuts(raw, truth)
    assert cuts == sorted(cuts) and cuts[0] > 1.9
    assert macro_recall(truth, apply_cuts(raw, cuts)) == 1.0
    assert quadratic_kappa(truth, apply_cuts(raw, cuts)) == pytest.approx(1.0)


def test_class_weights_balance_levels_and_a_weighted_fit_leans_toward_the_rare_one() -> None:
    y = np.array([1, 3, 3, 3, 3, 3, 3, 5, 6], float)
    assert class_weights(y, 0) is None
    weights = class_weights(y, 1)
    assert weights is not None and weights.mean() == pytest.approx(1.0)
    by_level = {level: float(weights[y == level].sum()) for level in (1, 3)}
    assert by_level[1] == pytest.approx(by_level[3])  # one A1 answer weighs as six B1 ones
    assert weights[y == 5][0] == weights[y == 6][0]  # C1 and C2 are one class
    x = np.array([[0.0], [1.0], [1.2], [0.8], [1.1], [0.9], [1.0], [2.0], [2.2]])
    plain = Ridge.fit(x, y, alpha=1e-6)
    same = Ridge.fit(x, y, alpha=1e-6, sample_weight=np.ones(len(y)))
    assert same.predict(x) == pytest.approx(plain.predict(x))  # equal weights change nothing
    leaning = Ridge.fit(x, y, alpha=1e-6, sample_weight=weights)

    def weighted_error(model: Ridge) -> float:
        return float(weights @ (model.linear(x) - y) ** 2)

    # Weighted least squares: no line fits the balanced classes better than the weighted
    # fit, and it is not the unweighted one.
    assert weighted_error(leaning) < weighted_error(plain)


def test_the_inner_folds_add_the_block_of_columns_that_carries_the_level() -> None:
    rng = np.random.default_rng(5)
    y = np.repeat(np.arange(1.0, 7.0), 10)
    x = rng.normal(0, 1, (60, 1))
    plain, _ = nested(x, y, outer=5, inner=4)
    alone, chosen = nested(x, y, outer=5, inner=4, extra=[x[:, :0]])  # an empty block: none
    assert list(alone) == list(plain) and [c["extra"] for c in chosen] == [0] * 5
    signal = (y + rng.normal(0, 0.4, 60))[:, None]
    noise = rng.normal(0, 1, (60, 1))
    guess, chosen = nested(x, y, outer=5, inner=4, extra=[x[:, :0], noise, signal])
    assert [c["extra"] for c in chosen] == [2] * 5
    assert agreement(y, guess)["spearman"] > 0.8 > agreement(y, plain)["spearman"]

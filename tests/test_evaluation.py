"""Tests of the ranking metrics in zooselect.evaluation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import itertools

from scipy import stats

from zooselect.evaluation import (
    _weighted_tau_of_orders,
    best_gain,
    expected_random_selection,
    kendall,
    pearson,
    regret_at_k,
    spearman,
    summarize_selection,
    top_k_experts,
    top_k_gain,
    trials_to_best,
    weighted_tau,
)

EXPERTS = ["a", "b", "c", "d", "e"]
ACCURACIES = pd.Series({"a": 0.70, "b": 0.80, "c": 0.85, "d": 0.90, "e": 0.75})


def test_perfect_ranking():
    scores = ACCURACIES * 10 - 3  # same order as the accuracies
    assert spearman(scores, ACCURACIES) == pytest.approx(1.0)
    assert trials_to_best(scores, ACCURACIES) == 1
    assert top_k_gain(scores, ACCURACIES, 0.70, k=1) == pytest.approx(best_gain(ACCURACIES, 0.70))
    assert best_gain(ACCURACIES, 0.70) == pytest.approx(0.20)


def test_reversed_ranking():
    scores = -ACCURACIES
    assert spearman(scores, ACCURACIES) == pytest.approx(-1.0)
    assert trials_to_best(scores, ACCURACIES) == len(ACCURACIES)
    # The top-1 pick is the worst expert, a: no gain over baseline a.
    assert top_k_gain(scores, ACCURACIES, 0.70, k=1) == pytest.approx(0.0)


def test_gains_and_trials_worked_by_hand():
    scores = pd.Series({"a": 0.5, "b": 0.9, "c": 0.8, "d": 0.1, "e": 0.3})
    # Score order: b (0.80), c (0.85), a (0.70), e (0.75), d (0.90); baseline a = 0.70.
    assert top_k_gain(scores, ACCURACIES, 0.70, k=1) == pytest.approx(0.10)
    assert top_k_gain(scores, ACCURACIES, 0.70, k=2) == pytest.approx(0.15)
    assert top_k_gain(scores, ACCURACIES, 0.70, k=3) == pytest.approx(0.15)
    assert top_k_gain(scores, ACCURACIES, 0.70, k=4) == pytest.approx(0.15)
    assert top_k_gain(scores, ACCURACIES, 0.70, k=5) == pytest.approx(0.20)
    assert top_k_gain(scores, ACCURACIES, 0.70, k=50) == pytest.approx(0.20)  # k > zoo: all
    assert best_gain(ACCURACIES, 0.70) == pytest.approx(0.20)
    assert trials_to_best(scores, ACCURACIES) == 5
    # Ranks (score, accuracy): d (1, 5), e (2, 2), a (3, 1), c (4, 4), b (5, 3);
    # sum d^2 = 16 + 0 + 4 + 0 + 4 = 24; rho = 1 - 6*24 / (5*(25-1)) = -0.2.
    assert spearman(scores, ACCURACIES) == pytest.approx(-0.2)


def test_gain_can_be_negative():
    scores = pd.Series({"a": 0.0, "b": 0.0, "c": 1.0, "d": 0.0, "e": 0.0})
    # top-1 is c (0.85); against a baseline of 0.90 that is a loss.
    assert top_k_gain(scores, ACCURACIES, 0.90, k=1) == pytest.approx(-0.05)


def test_series_are_aligned_by_expert_name_not_position():
    scores = pd.Series({"a": 0.5, "b": 0.9, "c": 0.8, "d": 0.1, "e": 0.3})
    shuffled = ACCURACIES.loc[["d", "b", "e", "a", "c"]]
    assert trials_to_best(scores, shuffled) == trials_to_best(scores, ACCURACIES) == 5
    assert spearman(scores, shuffled) == pytest.approx(-0.2)
    assert top_k_gain(scores, shuffled, 0.70, k=2) == pytest.approx(0.15)


def test_arrays_are_aligned_by_position():
    scores = np.array([0.5, 0.9, 0.8, 0.1, 0.3])
    accuracies = ACCURACIES.loc[EXPERTS].to_numpy()
    assert trials_to_best(scores, accuracies) == 5
    assert top_k_gain(scores, accuracies, 0.70, k=2) == pytest.approx(0.15)
    assert spearman(scores, accuracies) == pytest.approx(-0.2)
    assert best_gain(accuracies, 0.70) == pytest.approx(0.20)


def test_ties_in_score_break_by_expert_name_for_series():
    # b and a tie at the top; by name a comes first, whatever the row order.
    accuracies = pd.Series({"a": 0.5, "b": 0.9, "c": 0.1})
    for scores in (
        pd.Series({"b": 1.0, "a": 1.0, "c": 0.0}),
        pd.Series({"c": 0.0, "a": 1.0, "b": 1.0}),
    ):
        assert top_k_gain(scores, accuracies, 0.0, k=1) == pytest.approx(0.5)
        assert top_k_gain(scores, accuracies, 0.0, k=2) == pytest.approx(0.9)
        assert trials_to_best(scores, accuracies) == 2


def test_ties_in_score_break_by_position_for_arrays():
    scores = np.array([1.0, 1.0, 0.0])
    assert top_k_gain(scores, np.array([0.9, 0.5, 0.1]), 0.0, k=1) == pytest.approx(0.9)
    assert trials_to_best(scores, np.array([0.9, 0.5, 0.1])) == 1
    assert top_k_gain(scores, np.array([0.5, 0.9, 0.1]), 0.0, k=1) == pytest.approx(0.5)
    assert trials_to_best(scores, np.array([0.5, 0.9, 0.1])) == 2


def test_constant_scores_are_ranked_by_name():
    scores = pd.Series(0.0, index=EXPERTS)
    assert trials_to_best(scores, ACCURACIES) == EXPERTS.index("d") + 1
    assert math.isnan(spearman(scores, ACCURACIES))


def test_ties_in_accuracy_first_expert_at_the_maximum_counts():
    accuracies = pd.Series({"a": 1.0, "b": 1.0, "c": 0.5})
    assert trials_to_best(pd.Series({"a": 1.0, "b": 2.0, "c": 3.0}), accuracies) == 2
    assert trials_to_best(pd.Series({"a": 2.0, "b": 1.0, "c": 3.0}), accuracies) == 2
    assert trials_to_best(pd.Series({"a": 2.0, "b": 1.0, "c": 0.0}), accuracies) == 1


def test_constant_accuracies_give_nan_spearman():
    accuracies = pd.Series(1.0, index=EXPERTS)
    scores = pd.Series(np.arange(5.0), index=EXPERTS)
    assert math.isnan(spearman(scores, accuracies))
    assert trials_to_best(scores, accuracies) == 1
    assert best_gain(accuracies, 1.0) == 0.0


def test_single_expert_spearman_is_nan():
    assert math.isnan(spearman(np.array([0.3]), np.array([0.8])))


def test_mismatched_experts_are_rejected():
    scores = pd.Series({"a": 1.0, "b": 2.0, "x": 3.0})
    accuracies = pd.Series({"a": 0.5, "b": 0.6, "c": 0.7})
    for func in (spearman, trials_to_best):
        with pytest.raises(ValueError, match=r"only in scores \['x'\].*only in accuracies \['c'\]"):
            func(scores, accuracies)
    with pytest.raises(ValueError, match="different experts"):
        top_k_gain(scores, accuracies, 0.5, k=1)


def test_duplicate_experts_are_rejected():
    scores = pd.Series([1.0, 2.0, 3.0], index=["a", "a", "b"])
    accuracies = pd.Series({"a": 0.5, "b": 0.6})
    with pytest.raises(ValueError, match="more than once"):
        spearman(scores, accuracies)


def test_arrays_of_different_length_are_rejected():
    with pytest.raises(ValueError, match="3 experts but accuracies has 2"):
        trials_to_best(np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2]))


def test_mixing_series_and_arrays_is_rejected():
    with pytest.raises(ValueError, match="both as pandas Series"):
        spearman(ACCURACIES, ACCURACIES.to_numpy())


def test_non_finite_values_are_rejected():
    scores = pd.Series({"a": 1.0, "b": np.nan, "c": 3.0})
    accuracies = pd.Series({"a": 0.5, "b": 0.6, "c": 0.7})
    with pytest.raises(ValueError, match=r"scores has NaN.*\['b'\]"):
        trials_to_best(scores, accuracies)
    with pytest.raises(ValueError, match="accuracies has NaN"):
        best_gain(np.array([0.5, np.inf]), 0.5)


def test_empty_zoo_and_bad_k_are_rejected():
    with pytest.raises(ValueError, match="empty"):
        trials_to_best(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="positive integer"):
        top_k_gain(ACCURACIES, ACCURACIES, 0.7, k=0)


def test_summarize_selection():
    scores = pd.Series({"a": 0.5, "b": 0.9, "c": 0.8, "d": 0.1, "e": 0.3})
    summary = summarize_selection(
        scores, ACCURACIES, baseline="a", selection_seconds=12.5, brute_force_seconds=100
    )
    assert list(summary) == [
        "spearman",
        "pearson",
        "kendall",
        "weighted_tau",
        "top1_gain",
        "top3_gain",
        "best_gain",
        "regret_at_3",
        "trials_to_best",
        "selection_seconds",
        "topk_finetune_seconds",
        "brute_force_seconds",
    ]
    assert summary["spearman"] == pytest.approx(-0.2)
    assert summary["top1_gain"] == pytest.approx(0.10)
    assert summary["top3_gain"] == pytest.approx(0.15)
    assert summary["best_gain"] == pytest.approx(0.20)
    assert summary["trials_to_best"] == 5 and isinstance(summary["trials_to_best"], int)
    assert summary["selection_seconds"] == 12.5
    assert summary["brute_force_seconds"] == 100.0
    # Top 3 by score: b (0.80), c (0.85), a (0.70); the zoo's best is d (0.90).
    assert summary["regret_at_3"] == pytest.approx(0.05)


def test_summarize_selection_gains_are_relative_to_the_named_baseline():
    scores = pd.Series({"a": 0.5, "b": 0.9, "c": 0.8, "d": 0.1, "e": 0.3})
    summary = summarize_selection(scores, ACCURACIES, "d", 1.0, 2.0)
    assert summary["top1_gain"] == pytest.approx(-0.10)
    assert summary["best_gain"] == pytest.approx(0.0)


def test_summarize_selection_missing_baseline():
    with pytest.raises(ValueError, match="baseline expert 'resnet-generic'"):
        summarize_selection(ACCURACIES, ACCURACIES, "resnet-generic", 1.0, 2.0)


@pytest.mark.parametrize("correlation", [spearman, pearson, kendall, weighted_tau])
def test_every_correlation_is_one_for_the_perfect_ranking_and_minus_one_reversed(correlation):
    assert correlation(ACCURACIES * 3 + 1, ACCURACIES) == pytest.approx(1.0)
    assert correlation(-ACCURACIES, ACCURACIES) == pytest.approx(-1.0)
    assert np.isnan(correlation(ACCURACIES, ACCURACIES * 0 + 0.5))


def test_pearson_and_kendall_on_a_case_worked_by_hand():
    scores = np.array([1.0, 2.0, 3.0])
    accuracies = np.array([0.1, 0.3, 0.2])
    # Pearson: deviations (-1, 0, 1) and (-0.1, 0.1, 0); r = 0.1 / (sqrt(2) sqrt(0.02)) = 0.5.
    assert pearson(scores, accuracies) == pytest.approx(0.5)
    # Kendall: pairs (1,2) concordant, (1,3) concordant, (2,3) discordant: (2 - 1) / 3.
    assert kendall(scores, accuracies) == pytest.approx(1 / 3)


def test_weighted_tau_counts_swaps_at_the_top_more():
    accuracies = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    swap_top = np.array([4.0, 5.0, 3.0, 2.0, 1.0])
    swap_bottom = np.array([5.0, 4.0, 3.0, 1.0, 2.0])
    assert weighted_tau(swap_bottom, accuracies) > weighted_tau(swap_top, accuracies)
    assert kendall(swap_bottom, accuracies) == pytest.approx(kendall(swap_top, accuracies))


def test_regret_is_zero_when_the_best_is_in_the_top_k():
    scores = pd.Series({"a": 0.5, "b": 0.9, "c": 0.8, "d": 0.1, "e": 0.3})
    assert regret_at_k(scores, ACCURACIES, k=5) == 0.0
    assert regret_at_k(scores, ACCURACIES, k=1) == pytest.approx(0.10)
    assert top_k_experts(scores, 3) == ["b", "c", "a"]


# --- Random reported as its expectation --------------------------------------

RANDOM_CASES = {
    # name: accuracies (expert names a, b, c, ...), baseline expert
    "4 distinct": [0.61, 0.72, 0.55, 0.90],
    "5 distinct": [0.70, 0.80, 0.85, 0.90, 0.75],
    "5 ties below the best": [0.70, 0.70, 0.85, 0.90, 0.60],
    "5 tie of 2 at the best": [0.90, 0.70, 0.90, 0.60, 0.65],
    "6 tie of 3 at the best and a tie below": [1.0, 0.50, 1.0, 0.50, 1.0, 0.25],
    "5 all tied but one": [0.50, 0.50, 0.50, 0.80, 0.50],
    "4 all equal": [0.80, 0.80, 0.80, 0.80],
}


def _brute_force(accuracies: pd.Series, baseline: str, seconds: pd.Series, ks) -> dict:
    """Mean of every metric over all n! score orders, with the existing metric functions:
    summarize_selection's keys (k = 3), then top{k}_gain, regret_at_{k} and the seconds
    of fine-tuning the top k for each k in `ks`."""
    experts = list(accuracies.index)
    accuracy_array = accuracies.to_numpy()
    baseline_accuracy = float(accuracies[baseline])
    rows = []
    for order in itertools.permutations(range(len(experts))):
        scores = pd.Series(np.array(order, dtype=float), index=experts)
        row = summarize_selection(
            scores, accuracies, baseline, selection_seconds=0.25,
            brute_force_seconds=float(seconds.sum()),
            topk_finetune_seconds=float(seconds.loc[top_k_experts(scores, 3)].sum()),
        )
        score_array = scores.to_numpy()  # the same experts, by position: faster
        for k in ks:
            row[f"top{k}_gain"] = top_k_gain(score_array, accuracy_array, baseline_accuracy, k)
            row[f"regret_at_{k}"] = regret_at_k(score_array, accuracy_array, k)
            row[f"top{k}_seconds"] = float(seconds.loc[top_k_experts(scores, k)].sum())
        rows.append(row)
    return pd.DataFrame(rows).mean(skipna=False).to_dict()


def _assert_same(value: float, reference: float, key: str) -> None:
    if np.isnan(reference):
        assert np.isnan(value), key
    else:
        assert value == pytest.approx(reference, abs=1e-12, rel=0), key


@pytest.mark.parametrize("case", list(RANDOM_CASES))
def test_random_expectation_equals_enumeration_over_every_order(case):
    values = RANDOM_CASES[case]
    experts = [chr(ord("a") + i) for i in range(len(values))]
    accuracies = pd.Series(values, index=experts)
    seconds = pd.Series(np.arange(1.0, len(values) + 1) ** 1.5, index=experts)  # unequal costs
    ks = [1, 2, 3, len(values), len(values) + 2]  # k > n: the whole zoo
    brute = _brute_force(accuracies, "b", seconds, ks)
    expected = expected_random_selection(
        accuracies, accuracies["b"], k=3, selection_seconds=0.25, brute_force_seconds=float(seconds.sum())
    )
    assert list(expected) == list(summarize_selection(accuracies, accuracies, "b", 0.0, 0.0))
    for key, value in expected.items():
        _assert_same(value, brute[key], key)
    for k in ks:
        expected = expected_random_selection(accuracies, accuracies["b"], k=k, brute_force_seconds=float(seconds.sum()))
        for key in (f"top{k}_gain", f"regret_at_{k}"):
            _assert_same(expected[key], brute[key], key)
        _assert_same(expected["topk_finetune_seconds"], brute[f"top{k}_seconds"], f"top{k}_seconds")


def test_random_expectation_keys_match_summarize_selection():
    summary = summarize_selection(ACCURACIES, ACCURACIES, "a", 1.0, 2.0)
    assert list(expected_random_selection(ACCURACIES, 0.70)) == list(summary)


def test_random_expectation_worked_by_hand():
    # Accuracies 0.70, 0.80, 0.85, 0.90, 0.75 (no ties), baseline a = 0.70.
    expected = expected_random_selection(ACCURACIES, 0.70, k=3, brute_force_seconds=100.0)
    assert expected["spearman"] == expected["pearson"] == expected["kendall"] == 0.0
    assert expected["weighted_tau"] == 0.0  # exactly 0 without ties in accuracy
    assert expected["top1_gain"] == pytest.approx(0.80 - 0.70)
    # Sorted 0.70 .. 0.90; P(max = i-th) = C(i-1, 2)/C(5, 3) = 1/10, 3/10, 6/10 for i = 3, 4, 5.
    e_max = 0.1 * 0.80 + 0.3 * 0.85 + 0.6 * 0.90
    assert expected["top3_gain"] == pytest.approx(e_max - 0.70)
    assert expected["regret_at_3"] == pytest.approx(0.90 - e_max)
    assert expected["best_gain"] == pytest.approx(0.20)
    assert expected["trials_to_best"] == pytest.approx(3.0)  # (n + 1)/(m + 1) = 6/2
    assert expected["topk_finetune_seconds"] == pytest.approx(60.0)  # 3/5 of brute force
    assert expected["brute_force_seconds"] == 100.0


def test_random_expectation_lies_between_the_reversed_and_the_perfect_ranking():
    n = len(ACCURACIES)
    perfect = summarize_selection(ACCURACIES, ACCURACIES, "a", 0.0, 0.0)
    reversed_ = summarize_selection(-ACCURACIES, ACCURACIES, "a", 0.0, 0.0)
    random = expected_random_selection(ACCURACIES, 0.70)
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["trials_to_best"] == 1
    assert reversed_["spearman"] == pytest.approx(-1.0) and reversed_["trials_to_best"] == n
    for key in ("spearman", "pearson", "kendall", "weighted_tau", "top1_gain", "top3_gain"):
        assert reversed_[key] < random[key] < perfect[key], key
    assert perfect["trials_to_best"] < random["trials_to_best"] < reversed_["trials_to_best"]


def test_random_expectation_ties_at_the_best():
    # m experts tied at the best among n: the first of them comes at (n + 1)/(m + 1) on average.
    accuracies = pd.Series({"a": 1.0, "b": 1.0, "c": 0.5, "d": 1.0, "e": 0.2, "f": 0.3, "g": 0.4})
    assert expected_random_selection(accuracies, 0.5)["trials_to_best"] == pytest.approx(8 / 4)
    # Every expert at the best: the first one tried is a best one.
    constant = expected_random_selection(pd.Series(1.0, index=EXPERTS), 1.0)
    assert constant["trials_to_best"] == 1.0 and constant["regret_at_3"] == 0.0
    for key in ("spearman", "pearson", "kendall", "weighted_tau"):
        assert math.isnan(constant[key])


def test_random_weighted_tau_is_not_zero_with_ties_in_accuracy():
    # Without ties the expectation is exactly 0 (see expected_random_selection); with
    # ties the normalisation depends on the order, and enumeration gives e.g. 0.0536.
    accuracies = np.array([1.0, 1.0, 1.0, 0.0, 0.0])
    enumerated = np.mean(
        [stats.weightedtau(np.array(order, dtype=float), accuracies).statistic
         for order in itertools.permutations(range(5))]
    )
    assert enumerated == pytest.approx(0.053627, abs=1e-6)
    assert expected_random_selection(accuracies, 0.0)["weighted_tau"] == pytest.approx(enumerated, abs=1e-12)


def test_random_weighted_tau_monte_carlo_beyond_the_enumeration_limit():
    # 9 experts, 3 tied: 9!/3! = 60480 distinct orders > 8!, so a seeded Monte-Carlo mean.
    accuracies = np.array([0.9, 0.9, 0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    exact = expected_random_selection(accuracies, 0.0, max_enumeration=10**5)["weighted_tau"]
    estimate = expected_random_selection(accuracies, 0.0)["weighted_tau"]
    assert estimate == expected_random_selection(accuracies, 0.0)["weighted_tau"]  # seeded
    assert estimate != exact and estimate == pytest.approx(exact, abs=0.01)
    assert exact == pytest.approx(
        expected_random_selection(accuracies, 0.0, weighted_tau_samples=200_000, seed=3)["weighted_tau"],
        abs=0.003,
    )


def test_vectorised_weighted_tau_matches_scipy():
    rng = np.random.default_rng(7)
    accuracies = np.round(rng.random(12), 1)  # many ties
    orders = rng.permuted(np.tile(accuracies, (20, 1)), axis=1)
    scores = np.arange(12, 0, -1.0)  # position 0 is the highest-scored expert
    reference = [stats.weightedtau(scores, row).statistic for row in orders]
    np.testing.assert_allclose(_weighted_tau_of_orders(orders), reference, rtol=0, atol=1e-12)


def test_random_expectation_rejects_bad_input():
    with pytest.raises(ValueError, match="positive integer"):
        expected_random_selection(ACCURACIES, 0.7, k=0)
    with pytest.raises(ValueError, match="more than once"):
        expected_random_selection(pd.Series([0.5, 0.6], index=["a", "a"]), 0.5)
    with pytest.raises(ValueError, match=r"NaN.*\['b'\]"):
        expected_random_selection(pd.Series({"a": 0.5, "b": np.nan}), 0.5)
    with pytest.raises(ValueError, match="empty"):
        expected_random_selection(np.array([]), 0.5)

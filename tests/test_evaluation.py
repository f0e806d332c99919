"""Tests of the ranking metrics in zooselect.evaluation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from zooselect.evaluation import (
    best_gain,
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

"""Ranking metrics: how well a method's scores predict fine-tuned accuracy.

Pure functions over the scores and fine-tuned accuracies of one zoo on one
(target, regime); they read no files. Inputs are either pandas Series
indexed by expert name (aligned on the index; both must hold the same
experts) or numpy arrays (aligned by position, same length). Mixing the two
is refused rather than guessed.

Conventions every caller must know:

- Ranking order is descending score. Ties in score are broken
  deterministically: by expert name (ascending) for Series, by position for
  arrays. The order the rows arrive in therefore never changes a Series
  result.
- Ties in accuracy (several experts at the best accuracy, e.g. 100 %): the
  first expert in ranking order whose accuracy equals the maximum (exact
  float equality) counts as reaching the best.
- NaN or infinite scores or accuracies are rejected with ValueError (a
  method that failed on an expert must be reported, not ranked).
- `spearman` returns NaN when the scores or the accuracies are constant
  (the correlation is undefined), so averages over targets must use a
  NaN-aware mean and report how many were undefined.

Reference: the protocol of Deshpande et al. 2021, "A linearized framework
and a new benchmark for model selection for fine-tuning" (top-k gain with
respect to the generic expert; trials to best).
"""

from __future__ import annotations

from typing import Union

import numpy as np
import pandas as pd
from scipy import stats

ArrayOrSeries = Union[np.ndarray, pd.Series]


def _as_finite_vector(values: ArrayOrSeries, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional; got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{what} is empty: no experts to rank")
    if not np.isfinite(array).all():
        if isinstance(values, pd.Series):
            bad = list(values.index[~np.isfinite(array)])
            raise ValueError(f"{what} has NaN or infinite values for experts {bad}")
        raise ValueError(f"{what} has NaN or infinite values")
    return array


def _align(
    scores: ArrayOrSeries, accuracies: ArrayOrSeries
) -> tuple[np.ndarray, np.ndarray]:
    """Return (scores, accuracies) as float64 arrays in the canonical expert order.

    Series: aligned on expert name and sorted by name (so ties in score are
    broken by name). Arrays: kept in the given order.
    """
    scores_is_series = isinstance(scores, pd.Series)
    accuracies_is_series = isinstance(accuracies, pd.Series)
    if scores_is_series != accuracies_is_series:
        raise ValueError(
            "pass scores and accuracies both as pandas Series indexed by expert "
            "or both as arrays; mixing them would align experts by position blindly"
        )
    if scores_is_series:
        for series, what in ((scores, "scores"), (accuracies, "accuracies")):
            duplicated = series.index[series.index.duplicated()]
            if len(duplicated):
                raise ValueError(f"{what} lists experts more than once: {list(duplicated)}")
        only_scores = sorted(map(str, set(scores.index) - set(accuracies.index)))
        only_accuracies = sorted(map(str, set(accuracies.index) - set(scores.index)))
        if only_scores or only_accuracies:
            raise ValueError(
                "scores and accuracies cover different experts: "
                f"only in scores {only_scores}, only in accuracies {only_accuracies}"
            )
        order = sorted(scores.index, key=str)
        scores = scores.loc[order]
        accuracies = accuracies.loc[order]
    score_array = _as_finite_vector(scores, "scores")
    accuracy_array = _as_finite_vector(accuracies, "accuracies")
    if score_array.shape != accuracy_array.shape:
        raise ValueError(
            f"scores has {score_array.size} experts but accuracies has {accuracy_array.size}"
        )
    return score_array, accuracy_array


def _ranking(score_array: np.ndarray) -> np.ndarray:
    """Indices by descending score; a stable sort keeps ties in canonical order."""
    return np.argsort(-score_array, kind="stable")


def _correlation(scores: ArrayOrSeries, accuracies: ArrayOrSeries, statistic) -> float:
    """``statistic(scores, accuracies)``, or NaN where a correlation is undefined:
    fewer than 2 experts, or either side constant (no warning is emitted)."""
    score_array, accuracy_array = _align(scores, accuracies)
    if score_array.size < 2 or np.ptp(score_array) == 0 or np.ptp(accuracy_array) == 0:
        return float("nan")
    return float(statistic(score_array, accuracy_array))


def spearman(scores: ArrayOrSeries, accuracies: ArrayOrSeries) -> float:
    """Spearman rank correlation between scores and fine-tuned accuracies.

    ``scipy.stats.spearmanr`` (average ranks for ties). Returns NaN when
    either side is constant, or with fewer than 2 experts, since the
    correlation is undefined there (no warning is emitted).
    """
    return _correlation(scores, accuracies, lambda a, b: stats.spearmanr(a, b).statistic)


def pearson(scores: ArrayOrSeries, accuracies: ArrayOrSeries) -> float:
    """Pearson correlation between scores and accuracies (NaN where undefined, as ``spearman``)."""
    return _correlation(scores, accuracies, lambda a, b: stats.pearsonr(a, b).statistic)


def kendall(scores: ArrayOrSeries, accuracies: ArrayOrSeries) -> float:
    """Kendall's tau-b (ties handled by tau-b; NaN where undefined, as ``spearman``)."""
    return _correlation(scores, accuracies, lambda a, b: stats.kendalltau(a, b).statistic)


def weighted_tau(scores: ArrayOrSeries, accuracies: ArrayOrSeries) -> float:
    """``scipy.stats.weightedtau`` with its defaults: Kendall's tau with hyperbolic
    weights that make swaps among the top-ranked experts count more (NaN where
    undefined, as ``spearman``)."""
    return _correlation(scores, accuracies, lambda a, b: stats.weightedtau(a, b).statistic)


def top_k_gain(
    scores: ArrayOrSeries,
    accuracies: ArrayOrSeries,
    baseline_accuracy: float,
    k: int,
) -> float:
    """Best accuracy among the k highest-scored experts minus `baseline_accuracy`.

    Ties in score are broken by expert name (Series) or position (arrays).
    If the zoo has fewer than k experts, all of them are taken.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    score_array, accuracy_array = _align(scores, accuracies)
    chosen = _ranking(score_array)[:k]
    return float(accuracy_array[chosen].max() - float(baseline_accuracy))


def regret_at_k(scores: ArrayOrSeries, accuracies: ArrayOrSeries, k: int) -> float:
    """The zoo's best accuracy minus the best among the k highest-scored experts (>= 0; 0 is perfect)."""
    score_array, accuracy_array = _align(scores, accuracies)
    return float(accuracy_array.max()) - top_k_gain(score_array, accuracy_array, 0.0, k)


def top_k_experts(scores: pd.Series, k: int) -> list:
    """Names of the k highest-scored experts, ties broken by name (as ``top_k_gain``)."""
    ordered = scores.sort_index()
    return list(ordered.index[_ranking(ordered.to_numpy(dtype=float))[:k]])


def best_gain(accuracies: ArrayOrSeries, baseline_accuracy: float) -> float:
    """The zoo's best fine-tuned accuracy minus `baseline_accuracy` (an oracle's top-1 gain)."""
    accuracy_array = _as_finite_vector(accuracies, "accuracies")
    return float(accuracy_array.max() - float(baseline_accuracy))


def trials_to_best(scores: ArrayOrSeries, accuracies: ArrayOrSeries) -> int:
    """How many experts, taken in score order, until one with the best accuracy.

    1 is perfect, n (the zoo size) is the worst. Ties in score are broken by
    expert name (Series) or position (arrays); when several experts share
    the best accuracy, the first of them in score order counts (so the
    metric is defined even when many experts reach 100 %).
    """
    score_array, accuracy_array = _align(scores, accuracies)
    ranked_accuracies = accuracy_array[_ranking(score_array)]
    return int(np.flatnonzero(ranked_accuracies == accuracy_array.max())[0]) + 1


def summarize_selection(
    scores: pd.Series,
    accuracies: pd.Series,
    baseline: str,
    selection_seconds: float,
    brute_force_seconds: float,
    topk_finetune_seconds: float = float("nan"),
    baseline_accuracy: float | None = None,
) -> dict:
    """All ranking metrics of one method on one (target, regime).

    `scores` and `accuracies` are Series indexed by expert name; `baseline`
    is the baseline (generic) expert's name and must be in `accuracies`,
    unless `baseline_accuracy` gives its accuracy (a baseline outside the
    zoo being judged, e.g. the generic expert for the multi-domain zoo).
    Returns a dict with exactly the keys spearman, pearson, kendall,
    weighted_tau, top1_gain, top3_gain, best_gain, regret_at_3,
    trials_to_best, selection_seconds, topk_finetune_seconds,
    brute_force_seconds.
    """
    if not isinstance(scores, pd.Series) or not isinstance(accuracies, pd.Series):
        raise ValueError("summarize_selection needs scores and accuracies as pandas Series indexed by expert")
    if baseline_accuracy is not None:
        return _selection_metrics(
            scores, accuracies, float(baseline_accuracy),
            selection_seconds, brute_force_seconds, topk_finetune_seconds,
        )
    if baseline not in accuracies.index:
        raise ValueError(
            f"baseline expert {baseline!r} has no fine-tuned accuracy; "
            f"experts with accuracies: {sorted(map(str, accuracies.index))}"
        )
    baseline_accuracy = accuracies.loc[baseline]
    if isinstance(baseline_accuracy, pd.Series):
        raise ValueError(f"baseline expert {baseline!r} is listed more than once in accuracies")
    return _selection_metrics(
        scores, accuracies, float(baseline_accuracy),
        selection_seconds, brute_force_seconds, topk_finetune_seconds,
    )


def _selection_metrics(
    scores, accuracies, baseline_accuracy, selection_seconds, brute_force_seconds, topk_finetune_seconds
) -> dict:
    return {
        "spearman": spearman(scores, accuracies),
        "pearson": pearson(scores, accuracies),
        "kendall": kendall(scores, accuracies),
        "weighted_tau": weighted_tau(scores, accuracies),
        "top1_gain": top_k_gain(scores, accuracies, baseline_accuracy, k=1),
        "top3_gain": top_k_gain(scores, accuracies, baseline_accuracy, k=3),
        "best_gain": best_gain(accuracies, baseline_accuracy),
        "regret_at_3": regret_at_k(scores, accuracies, k=3),
        "trials_to_best": trials_to_best(scores, accuracies),
        "selection_seconds": float(selection_seconds),
        "topk_finetune_seconds": float(topk_finetune_seconds),
        "brute_force_seconds": float(brute_force_seconds),
    }

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

The Random baseline is reported as its expectation, not as one seeded draw:
``expected_random_selection`` gives every ranking metric's exact expected
value over a uniformly random ordering of the experts (all n! orders equally
likely), in closed form (Spearman, Pearson, Kendall: 0; top-k gain and
regret: order statistics of a random k-subset; trials to best:
(n + 1)/(m + 1)) and, for weighted tau, exactly (0 without ties in
accuracy, enumeration of the distinct orders otherwise) or, for large zoos
with tied accuracies, by a seeded Monte-Carlo estimate.

Reference: the protocol of Deshpande et al. 2021, "A linearized framework
and a new benchmark for model selection for fine-tuning" (top-k gain with
respect to the generic expert; trials to best).
"""

from __future__ import annotations

import math
from typing import Iterator, Union

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


# --- The Random baseline, reported as its expectation -----------------------

#: Enumerate the distinct orders exactly while there are at most this many
#: (8! = 40320: every zoo of up to 8 experts, and larger zoos with many ties).
WEIGHTED_TAU_MAX_ENUMERATION = math.factorial(8)
#: Monte-Carlo orders drawn for weighted tau beyond the enumeration limit.
WEIGHTED_TAU_SAMPLES = 20_000


def expected_random_selection(
    accuracies: ArrayOrSeries,
    baseline_accuracy: float,
    k: int = 3,
    selection_seconds: float = float("nan"),
    brute_force_seconds: float = float("nan"),
    weighted_tau_samples: int = WEIGHTED_TAU_SAMPLES,
    seed: int = 0,
    max_enumeration: int = WEIGHTED_TAU_MAX_ENUMERATION,
) -> dict:
    """Expected ranking metrics of a uniformly random ordering of the experts.

    The Random baseline's row: the expectation of every metric of
    ``summarize_selection`` over all n! orderings of the n experts, each
    equally likely (a random score vector without ties ranks the zoo in a
    uniformly random order). Its keys are those of ``summarize_selection``,
    with 3 replaced by `k` (``top{k}_gain``, ``regret_at_{k}``); for ``k=3``
    they are the same keys. `accuracies` is a Series indexed by expert (or
    an array); a zoo with fewer than k experts takes all of them, as
    ``top_k_gain`` does.

    Formulas (a_(1) <= ... <= a_(n) the sorted accuracies, k' = min(k, n),
    m = the number of experts tied at the best accuracy, exact float
    equality as in ``trials_to_best``):

    - spearman, pearson, kendall: 0. With scores free of ties, each is a
      fixed normalisation times a sum that is linear in the scores (or
      score ranks, or signs of score differences), whose every term has
      expectation 0 under a random order. NaN where the metric is undefined
      whatever the order: fewer than 2 experts, or every accuracy equal.
    - weighted_tau (scipy's ``weightedtau`` with its defaults: hyperbolic
      additive weights, ranks by (score, accuracy) and by (accuracy,
      score), averaged): 0 when the accuracies have no ties, for the same
      reason (both normalisations are then constants; the weight of a pair
      depends only on its ranks, and the sign of its accuracy difference
      averages to 0 over orders). With ties in accuracy it is *not* 0 (the
      normalisation counts only pairs not tied in accuracy, weighted by
      their score ranks, so it varies with the order): then it is the exact
      mean over the distinct orders of the accuracy values (each stands for
      the same number of the n! orders) while there are at most
      `max_enumeration` of them (always when n <= 8), and otherwise a
      Monte-Carlo mean over `weighted_tau_samples` uniformly random orders
      drawn with ``np.random.default_rng(seed)`` (standard error about
      0.3/sqrt(samples), about 0.002 with the default 20000 draws).
    - top1_gain = mean accuracy - baseline.
    - top{k}_gain = E[max over a uniformly random k'-subset] - baseline,
      E[max] = sum_i P(max = a_(i)) a_(i) with
      P(max = a_(i)) = C(i-1, k'-1) / C(n, k') (the probability that
      position i is the largest of the k' positions drawn; ties in accuracy
      need no care since it is over positions).
    - best_gain = max accuracy - baseline (as ``best_gain``).
    - regret_at_{k} = max accuracy - E[max over a random k'-subset].
    - trials_to_best = E[position of the first of the m best experts in a
      random order] = (n + 1) / (m + 1) (a float; 1 for m = n).
    - selection_seconds and brute_force_seconds: returned as given (the
      random method's own measured time; fine-tuning every expert).
    - topk_finetune_seconds = k'/n * brute_force_seconds: every expert is in
      the random k'-subset with probability k'/n, so this is the exact
      expected cost of fine-tuning it.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    if isinstance(accuracies, pd.Series):
        duplicated = accuracies.index[accuracies.index.duplicated()]
        if len(duplicated):
            raise ValueError(f"accuracies lists experts more than once: {list(duplicated)}")
    accuracy_array = _as_finite_vector(accuracies, "accuracies")
    baseline_accuracy = float(baseline_accuracy)
    n = accuracy_array.size
    best = float(accuracy_array.max())
    expected_top_k = _expected_max_of_random_subset(accuracy_array, int(k))
    undefined = n < 2 or np.ptp(accuracy_array) == 0
    correlation = float("nan") if undefined else 0.0
    tied_at_best = int(np.count_nonzero(accuracy_array == best))
    return {
        "spearman": correlation,
        "pearson": correlation,
        "kendall": correlation,
        "weighted_tau": float("nan") if undefined else _expected_weighted_tau(
            accuracy_array, weighted_tau_samples, seed, max_enumeration
        ),
        "top1_gain": float(accuracy_array.mean()) - baseline_accuracy,
        f"top{k}_gain": expected_top_k - baseline_accuracy,
        "best_gain": best - baseline_accuracy,
        f"regret_at_{k}": best - expected_top_k,
        "trials_to_best": (n + 1) / (tied_at_best + 1),
        "selection_seconds": float(selection_seconds),
        "topk_finetune_seconds": min(int(k), n) / n * float(brute_force_seconds),
        "brute_force_seconds": float(brute_force_seconds),
    }


def _expected_max_of_random_subset(accuracy_array: np.ndarray, k: int) -> float:
    """E[max accuracy of a uniformly random min(k, n)-subset of the experts]."""
    ordered = np.sort(accuracy_array)
    n = ordered.size
    k = min(k, n)
    subsets = math.comb(n, k)
    # P(the largest of the k positions drawn is position i, 1-based) = C(i-1, k-1) / C(n, k).
    probabilities = np.array([math.comb(i - 1, k - 1) / subsets for i in range(1, n + 1)])
    return float(probabilities @ ordered)


def _expected_weighted_tau(
    accuracy_array: np.ndarray, samples: int, seed: int, max_enumeration: int
) -> float:
    """E[weighted tau] over uniformly random orders (see ``expected_random_selection``)."""
    n = accuracy_array.size
    _, counts = np.unique(accuracy_array, return_counts=True)
    if counts.max() == 1:
        return 0.0  # no ties in accuracy: exactly 0 (proof in expected_random_selection)
    distinct_orders = math.factorial(n)
    for count in counts:
        distinct_orders //= math.factorial(int(count))
    if distinct_orders <= max_enumeration:
        orders = np.array(list(_distinct_orders(np.sort(accuracy_array))))
        return float(_weighted_tau_of_orders(orders).mean())
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"weighted_tau_samples must be a positive integer; got {samples!r}")
    rng = np.random.default_rng(seed)
    orders = rng.permuted(np.tile(accuracy_array, (int(samples), 1)), axis=1)
    return float(_weighted_tau_of_orders(orders).mean())


def _distinct_orders(ordered: np.ndarray) -> Iterator[np.ndarray]:
    """Every distinct arrangement of the sorted values, once each (lexicographic
    next-permutation, which skips the repeats that tied values would make)."""
    values = ordered.copy()
    n = values.size
    while True:
        yield values.copy()
        i = n - 2
        while i >= 0 and values[i] >= values[i + 1]:
            i -= 1
        if i < 0:
            return
        j = n - 1
        while values[j] <= values[i]:
            j -= 1
        values[i], values[j] = values[j], values[i]
        values[i + 1:] = values[i + 1:][::-1].copy()


def _weighted_tau_of_orders(orders: np.ndarray, chunk_elements: int = 4_000_000) -> np.ndarray:
    """``weighted_tau`` for each row of `orders`, vectorised.

    Row r holds the accuracies in ranking order: position 0 is the
    highest-scored expert (scores without ties). Matches
    ``scipy.stats.weightedtau(scores, accuracies)`` with its defaults: the
    mean of two weighted taus, one ranking experts by score (ties by
    accuracy), one by accuracy (ties by score), decreasing, rank 0 first;
    each is sum_{i<j} w_ij sgn(dscore) sgn(dacc) / sqrt(sum_{i<j} w_ij [dscore != 0]
    * sum_{i<j} w_ij [dacc != 0]) with w_ij = 1/(rank_i + 1) + 1/(rank_j + 1).
    """
    rows, n = orders.shape
    hyperbolic = 1.0 / (np.arange(n) + 1.0)
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    # Ranked by score, experts' ranks are their positions: one weight matrix for every row.
    score_weights = np.where(upper, hyperbolic[:, None] + hyperbolic[None, :], 0.0)
    score_norm = score_weights.sum()
    result = np.empty(rows)
    step = max(1, chunk_elements // (n * n))
    for start in range(0, rows, step):
        block = orders[start:start + step]
        # sign[r, p, q] = sgn(acc at position p - acc at position q); for p < q the
        # score difference is positive, so this is the pair's concordance.
        sign = np.sign(block[:, :, None] - block[:, None, :])
        untied = sign != 0
        by_score = (score_weights * sign).sum(axis=(1, 2)) / np.sqrt(
            score_norm * (score_weights * untied).sum(axis=(1, 2))
        )
        # Ranked by accuracy (decreasing), ties by score (decreasing = position ascending).
        ranking = np.argsort(-block, axis=1, kind="stable")
        ranks = np.empty_like(ranking)
        np.put_along_axis(ranks, ranking, np.arange(n)[None, :].repeat(len(block), axis=0), axis=1)
        weight = hyperbolic[ranks]
        accuracy_weights = np.where(upper, weight[:, :, None] + weight[:, None, :], 0.0)
        by_accuracy = (accuracy_weights * sign).sum(axis=(1, 2)) / np.sqrt(
            accuracy_weights.sum(axis=(1, 2)) * (accuracy_weights * untied).sum(axis=(1, 2))
        )
        result[start:start + step] = (by_score + by_accuracy) / 2
    return result

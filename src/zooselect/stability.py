"""How stable model selection is under the sampling of the probe set.

Agostinelli et al. (ECCV 2022) showed that conclusions about transferability
metrics can flip with the images a metric happens to see. We repeat model
selection over S draws of the probe set and report, per method, the mean
and standard deviation of its Spearman correlation and top-3 gain, and how
often its rank among the methods holds.

Every draw comes from the target's *selection pool*, the full regime's
selection sample (K images per class, already cached for every expert), so a
draw costs scoring only, never another pass of the experts:

- a few-shot regime's draw is ``shots`` images per class drawn from the pool
  without replacement: another few-shot sample of the same size as the one
  the regime's own probe set is;
- the full regime's draw is a stratified bootstrap of the pool: each class's
  images drawn with replacement, as many as the class has in the pool.

The ground truth stays the regime's fine-tuned accuracies: the draws vary
what the selection method sees, not what it is judged against. Two inputs
are computed once for the pool rather than per draw: LGC's per-sample
gradients use the ridge head fitted on the pool, and RSA's probe network is
the regime's own probe (trained on the regime's training images) evaluated
on the pool's images.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .seeding import derive_seed
from .summary import KEY, build_summary

#: Cache entries with one row per sampled image: a draw takes their rows.
PER_IMAGE = ("features", "probs", "labels", "indices", "gradients", "probe_features")
METRICS = ("spearman", "top3_gain", "trials_to_best")


def draw_seed(base_seed: int, target: str, regime: str, draw: int) -> int:
    """The seed of one stability draw of a (target, regime)."""
    return derive_seed(base_seed, "stability", target, regime, draw)


def draw_rows(pool_labels: np.ndarray, shots: int, seed: int) -> np.ndarray:
    """Sorted rows of the pool that form one draw of the probe set.

    shots > 0: that many rows per class, without replacement (a class with
    fewer rows in the pool gives all of them). shots == 0 (the full regime):
    a stratified bootstrap, each class's rows drawn with replacement.
    """
    labels = np.asarray(pool_labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError("the selection pool has no labelled images")
    if shots < 0:
        raise ValueError(f"shots must be 0 (full regime) or positive, got {shots}")
    rng = np.random.default_rng(seed)
    rows = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if shots:
            rows.append(rng.choice(members, size=min(shots, len(members)), replace=False))
        else:
            rows.append(rng.choice(members, size=len(members), replace=True))
    return np.sort(np.concatenate(rows))


def subset_cache(cache: Mapping[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """The cache restricted to `rows` (per-image arrays indexed, everything else kept)."""
    return {key: (value[rows] if key in PER_IMAGE else value) for key, value in cache.items()}


def per_draw_summary(
    scores: pd.DataFrame,
    accuracies: pd.DataFrame,
    baseline: str,
    zoos: dict[str, list[str]] | None = None,
) -> pd.DataFrame:
    """The summary's ranking metrics for each draw, with a ``draw`` column (the draw's number).

    scores: target, regime, draw, method, expert, score (the stability CSVs).
    accuracies: target, regime, expert, accuracy, seconds. Rows are the
    summary's, per (zoo, target, regime, method) plus the mean rows over
    targets (``target == "mean"``), for each draw; costs are left out.
    """
    no_caches = pd.DataFrame(columns=["target", "regime", "expert", "seconds"])
    frames = []
    for draw, draw_scores in scores.groupby("draw", sort=True):
        summary = build_summary(draw_scores.assign(seconds=0.0), accuracies, no_caches, baseline, zoos)
        frames.append(summary[KEY + list(METRICS)].assign(draw=int(draw)))
    if not frames:
        raise ValueError("no stability scores: is stability.draws 0?")
    return pd.concat(frames, ignore_index=True)[["draw", *KEY, *METRICS]]


def stability_table(per_draw: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over draws, and how often each method's rank holds.

    One row per (zoo, target, regime, method) with ``draws`` (how many),
    ``{metric}_mean`` and ``{metric}_std`` (ddof = 1; NaN with one draw) for
    Spearman, top-3 gain and trials to best. The mean rows over targets
    (``target == "mean"``) also rank the methods of each (zoo, regime):
    ``rank`` by mean Spearman over draws (1 = best; ties share the better
    rank), ``rank_held`` the fraction of draws whose own Spearman ranking
    gives the method that same rank, and ``rank_best``/``rank_worst`` the
    range of its per-draw ranks. A draw's Spearman is NaN where every expert
    reached the same accuracy; such values are left out.
    """
    grouped = per_draw.groupby(KEY, sort=True)
    table = grouped.size().rename("draws").to_frame()
    for metric in METRICS:
        table[f"{metric}_mean"] = grouped[metric].mean()
        table[f"{metric}_std"] = grouped[metric].std(ddof=1)
    table = table.reset_index()

    means = per_draw[per_draw.target == "mean"].copy()
    means["draw_rank"] = means.groupby(["zoo", "regime", "draw"])["spearman"].rank(
        ascending=False, method="min"
    )
    overall = table[table.target == "mean"].copy()
    overall["rank"] = overall.groupby(["zoo", "regime"])["spearman_mean"].rank(ascending=False, method="min")
    ranks = means.merge(overall[["zoo", "regime", "method", "rank"]], on=["zoo", "regime", "method"])
    ranks["held"] = ranks["draw_rank"] == ranks["rank"]
    by_method = ranks.groupby(["zoo", "regime", "method"]).agg(
        rank_held=("held", "mean"), rank_best=("draw_rank", "min"), rank_worst=("draw_rank", "max")
    )
    overall = overall.merge(by_method.reset_index(), on=["zoo", "regime", "method"], how="left")
    columns = ["rank", "rank_held", "rank_best", "rank_worst"]
    table = table.merge(overall[KEY + columns], on=KEY, how="left")
    return table

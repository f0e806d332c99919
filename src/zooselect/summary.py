"""Assemble results/summary.csv from score, fine-tune and cache files.

One row per (zoo, target, regime, method) with the ranking metrics of
``zooselect.evaluation``, then one mean row per (zoo, regime, method) over
targets (``target == "mean"``; NaN Spearman values, where every expert
reached the same accuracy, are left out of the mean). Every row's
``ground_truth`` says what the rankings were judged against: ``finetune``
(the workflow's fine-tuning jobs) or ``published:<file name>`` (a published
table of fine-tuned accuracies, ``zooselect.ground_truth``; its costs were
not measured here, so the fine-tuning seconds are NaN).

The Random baseline (the method named ``"random"``) is reported as its
expectation: its row holds the exact expected metrics of a uniformly random
ordering of the zoo (``zooselect.evaluation.expected_random_selection``),
not the metrics of the one seeded draw in its score CSV. That CSV is still
read, and only decides which experts the row covers and its
selection_seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from .evaluation import expected_random_selection, summarize_selection, top_k_experts

KEY = ["zoo", "target", "regime", "method"]
METRICS = [
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
#: Where the accuracies came from (zooselect.ground_truth.ground_truth_label).
GROUND_TRUTH = "ground_truth"
ZOO_SINGLE = "single_domain"
#: The method whose row is its expectation over random orderings, not its draw.
RANDOM_METHOD = "random"
TOP_K = 3


def _parts(path: str | Path) -> tuple[str, str, str]:
    """(target, regime, stem) of ``.../{target}/{regime}/{stem}.ext``."""
    path = Path(path)
    return path.parent.parent.name, path.parent.name, path.stem


def read_finetune(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Every fine-tune CSV, with target and regime columns, one row per (expert, lr)."""
    frames = []
    for path in paths:
        target, regime, _ = _parts(path)
        frames.append(pd.read_csv(path).assign(target=target, regime=regime))
    return pd.concat(frames, ignore_index=True)


def expert_accuracies(finetune: pd.DataFrame) -> pd.DataFrame:
    """Per (target, regime, expert): best test accuracy over the learning-rate grid
    (the paper's protocol) and the seconds all learning rates took."""
    grouped = finetune.groupby(["target", "regime", "expert"], sort=False)
    return grouped.agg(accuracy=("test_accuracy", "max"), seconds=("seconds", "sum")).reset_index()


def read_scores(paths: Iterable[str | Path]) -> pd.DataFrame:
    frames = []
    for path in paths:
        target, regime, method = _parts(path)
        frames.append(pd.read_csv(path).assign(target=target, regime=regime, method=method))
    return pd.concat(frames, ignore_index=True)


def build_summary(
    scores: pd.DataFrame,
    accuracies: pd.DataFrame,
    cache_seconds: pd.DataFrame,
    baseline: str,
    zoos: dict[str, list[str]] | None = None,
    ground_truth: str = "finetune",
) -> pd.DataFrame:
    """The summary table, one block of rows per zoo.

    scores: target, regime, method, expert, score, seconds.
    accuracies: target, regime, expert, accuracy, seconds (from ``expert_accuracies``,
    or ``ground_truth.published_accuracies`` with NaN seconds).
    ground_truth: where `accuracies` came from, written in every row's
    ``ground_truth`` column (``finetune`` or ``published:<file name>``).
    cache_seconds: target, regime, expert, seconds (cache extraction).
    zoos: zoo name -> its experts; each zoo is judged on its own, its gains
    measured against `baseline` (which need not belong to it). Default: one
    zoo, "single_domain", of every expert scored.
    selection_seconds = cache extraction of every expert + the method's scoring;
    topk_finetune_seconds = fine-tuning the method's 3 highest-scored experts;
    brute_force_seconds = fine-tuning every expert at every learning rate
    (NaN, not 0, where the accuracies carry no seconds).

    The "random" method's row is its expectation over a uniformly random
    ordering of the zoo's experts (``expected_random_selection``), not its
    seeded draw: spearman, pearson and kendall are 0 (NaN where undefined);
    weighted_tau is its exact expectation (0 without ties in accuracy;
    enumerated, or a seeded Monte-Carlo mean for large zoos, with ties);
    top1_gain is the mean accuracy minus the baseline's; top3_gain and
    regret_at_3 use the expected best accuracy of a random 3-subset;
    trials_to_best is (n + 1)/(m + 1) with m experts tied at the best (so not
    an integer); topk_finetune_seconds is 3/n of brute_force_seconds (the
    expected cost of fine-tuning a random 3-subset); selection_seconds is
    the random method's measured time, as for every method.
    """
    if zoos is None:
        zoos = {ZOO_SINGLE: sorted(scores.expert.unique())}
    rows = []
    for (target, regime, method), group in scores.groupby(["target", "regime", "method"], sort=True):
        acc = accuracies[(accuracies.target == target) & (accuracies.regime == regime)].set_index("expert")
        caches = cache_seconds[(cache_seconds.target == target) & (cache_seconds.regime == regime)]
        if baseline not in acc.index:
            raise ValueError(f"baseline expert {baseline!r} has no fine-tuned accuracy on {target}/{regime}")
        for zoo, members in zoos.items():
            in_zoo = group[group.expert.isin(members)]
            expert_scores = in_zoo.set_index("expert")["score"]
            seconds = acc.loc[expert_scores.index, "seconds"]
            zoo_accuracies = acc.loc[expert_scores.index, "accuracy"]
            baseline_accuracy = float(acc.loc[baseline, "accuracy"])
            selection_seconds = float(caches[caches.expert.isin(members)].seconds.sum() + in_zoo.seconds.sum())
            if method == RANDOM_METHOD:
                metrics = expected_random_selection(
                    zoo_accuracies,
                    baseline_accuracy=baseline_accuracy,
                    k=TOP_K,
                    selection_seconds=selection_seconds,
                    brute_force_seconds=float(seconds.sum(min_count=1)),
                )
            else:
                metrics = summarize_selection(
                    scores=expert_scores,
                    accuracies=zoo_accuracies,
                    baseline=baseline,
                    baseline_accuracy=baseline_accuracy,
                    selection_seconds=selection_seconds,
                    brute_force_seconds=float(seconds.sum(min_count=1)),
                    topk_finetune_seconds=float(seconds.loc[top_k_experts(expert_scores, TOP_K)].sum(min_count=1)),
                )
            rows.append({"zoo": zoo, "target": target, "regime": regime, "method": method, **metrics})
    per_target = pd.DataFrame(rows, columns=KEY + METRICS)
    means = (
        per_target.groupby(["zoo", "regime", "method"], sort=True)[METRICS]
        .mean()
        .reset_index()
        .assign(target="mean")
    )
    summary = pd.concat([per_target, means[KEY + METRICS]], ignore_index=True)
    return summary.assign(**{GROUND_TRUTH: ground_truth})

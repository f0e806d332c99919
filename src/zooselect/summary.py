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

Costs (``zooselect.costs``): each method's selection is charged what its
registry inputs consume, part by part (forward pass, gradients, probe,
source means, scoring); ``selection_seconds`` is their sum, the jobs'
start-up overhead is reported beside it (``selection_overhead_seconds``),
and ``selection_topk_share`` is (selection + top-3 fine-tuning) / brute force.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from .costs import OVERHEAD, PARTS, selection_cost, share
from .evaluation import expected_random_selection, summarize_selection, top_k_experts
from .io import BadFileError, read_table
from .paths import trailing_wildcards
from .scores import METHODS as REGISTRY
from .selection import SCORE_COLUMNS

KEY = ["zoo", "target", "regime", "method"]
FINETUNE_COLUMNS = ["expert", "lr", "test_accuracy", "seconds"]  # needed; train_loss is written too (training)
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
    # Costs: the share of brute force that selecting and fine-tuning the top 3 cost,
    # then what the selection cost, part by part (zooselect.costs), and beside it
    # the start-up overhead of the jobs it read.
    "selection_topk_share",
    *PARTS,
    OVERHEAD,
]
#: Where the accuracies came from (zooselect.ground_truth.ground_truth_label).
GROUND_TRUTH = "ground_truth"
ZOO_SINGLE = "single_domain"
#: The method whose row is its expectation over random orderings, not its draw.
RANDOM_METHOD = "random"
TOP_K = 3


def read_finetune(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Every fine-tune CSV, with target and regime columns, one row per (expert, lr).

    Each file must be a fine-tune CSV of the expert its name says
    (``.../{target}/{regime}/{expert}.csv``), else BadFileError naming it.
    """
    frames = []
    for path in paths:
        task = trailing_wildcards(path, ("target", "regime", "expert"))
        frame = read_table(path, FINETUNE_COLUMNS, numeric=("lr", "test_accuracy", "seconds"))
        others = sorted(set(map(str, frame.expert)) - {task["expert"]})
        if others:
            raise BadFileError(path, f"holds rows of expert(s) {', '.join(others)}, not only of {task['expert']}")
        frames.append(frame.assign(target=task["target"], regime=task["regime"]))
    return pd.concat(frames, ignore_index=True)


def expert_accuracies(finetune: pd.DataFrame) -> pd.DataFrame:
    """Per (target, regime, expert): best test accuracy over the learning-rate grid
    (the paper's protocol) and the seconds all learning rates took."""
    grouped = finetune.groupby(["target", "regime", "expert"], sort=False)
    return grouped.agg(accuracy=("test_accuracy", "max"), seconds=("seconds", "sum")).reset_index()


def read_scores(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Every score CSV (``.../{target}/{regime}/{method}.csv``: one row per expert), with
    target, regime and method columns; a file that is not one raises BadFileError naming it."""
    frames = []
    for path in paths:
        frame = read_table(path, SCORE_COLUMNS, numeric=("score", "seconds"))
        twice = sorted(set(frame.expert[frame.expert.duplicated()].astype(str)))
        if twice:
            raise BadFileError(path, f"lists expert(s) {', '.join(twice)} more than once")
        frames.append(frame.assign(**trailing_wildcards(path, ("target", "regime", "method"))))
    return pd.concat(frames, ignore_index=True)


def _method_inputs(method: str, method_inputs: Mapping[str, Iterable[str]] | None, measured: bool) -> tuple:
    """The inputs `method` is charged for: `method_inputs`, else the registry's."""
    if method_inputs is not None and method in method_inputs:
        return tuple(method_inputs[method])
    if method in REGISTRY:
        return REGISTRY[method].inputs
    if not measured:
        return ()  # nothing was extracted here: only the scoring has a cost
    raise ValueError(f"method {method!r} is not registered: pass its inputs (method_inputs) to charge its costs")


def _task(frame: pd.DataFrame | None, target: str, regime: str) -> pd.DataFrame | None:
    if frame is None or frame.empty:
        return None
    return frame[(frame.target == target) & (frame.regime == regime)]


def build_summary(
    scores: pd.DataFrame,
    accuracies: pd.DataFrame,
    input_costs: pd.DataFrame | None,
    baseline: str,
    zoos: dict[str, list[str]] | None = None,
    ground_truth: str = "finetune",
    probe_costs: pd.DataFrame | None = None,
    method_inputs: Mapping[str, Iterable[str]] | None = None,
) -> pd.DataFrame:
    """The summary table, one block of rows per zoo.

    scores: target, regime, method, expert, score, seconds (the scoring), and
    where measured overhead_seconds (the score row's share of its scoring
    job's overhead, ``costs.job_overheads``).
    accuracies: target, regime, expert, accuracy, seconds (from ``expert_accuracies``,
    or ``ground_truth.published_accuracies`` with NaN seconds).
    ground_truth: where `accuracies` came from, written in every row's
    ``ground_truth`` column (``finetune`` or ``published:<file name>``).
    input_costs: per (target, regime, expert) what the selection inputs cost
    (``costs.input_costs``); None (or an empty frame) where nothing was
    extracted: the parts a method consumes are then NaN.
    probe_costs: per (target, regime) RSA's probe (``costs.probe_costs``), or None.
    zoos: zoo name -> its experts; each zoo is judged on its own, its gains
    measured against `baseline` (which need not belong to it). Default: one
    zoo, "single_domain", of every expert scored.
    method_inputs: method -> the inputs it is charged for; default (and for
    methods not named) the registry's ``Method.inputs``.

    selection_seconds = the parts the method consumes (``costs.selection_cost``:
    forward_seconds, gradient_seconds, probe_seconds, source_means_seconds,
    scoring_seconds, each a column, 0 where not consumed);
    selection_overhead_seconds = the start-up overhead of the jobs it read,
    beside the cost and not in it;
    topk_finetune_seconds = fine-tuning the method's 3 highest-scored experts;
    brute_force_seconds = fine-tuning every expert at every learning rate
    (NaN, not 0, where the accuracies carry no seconds);
    selection_topk_share = (selection_seconds + topk_finetune_seconds) /
    brute_force_seconds.

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
    the random method's measured cost, as for every method (its scoring: it
    reads no cache).
    """
    if zoos is None:
        zoos = {ZOO_SINGLE: sorted(scores.expert.unique())}
    measured = not (input_costs is None or input_costs.empty) or not (probe_costs is None or probe_costs.empty)
    rows = []
    for (target, regime, method), group in scores.groupby(["target", "regime", "method"], sort=True):
        acc = accuracies[(accuracies.target == target) & (accuracies.regime == regime)].set_index("expert")
        experts = _task(input_costs, target, regime)
        probes = _task(probe_costs, target, regime)
        probe = probes.iloc[0] if probes is not None and len(probes) else None
        inputs = _method_inputs(method, method_inputs, measured)
        if baseline not in acc.index:
            raise ValueError(f"baseline expert {baseline!r} has no fine-tuned accuracy on {target}/{regime}")
        for zoo, members in zoos.items():
            in_zoo = group[group.expert.isin(members)]
            expert_scores = in_zoo.set_index("expert")["score"]
            seconds = acc.loc[expert_scores.index, "seconds"]
            zoo_accuracies = acc.loc[expert_scores.index, "accuracy"]
            baseline_accuracy = float(acc.loc[baseline, "accuracy"])
            cost = selection_cost(inputs, in_zoo, experts, probe)
            selection_seconds = cost.pop("selection_seconds")
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
            spent = metrics["selection_seconds"] + metrics["topk_finetune_seconds"]
            metrics["selection_topk_share"] = share(spent, metrics["brute_force_seconds"])
            rows.append({"zoo": zoo, "target": target, "regime": regime, "method": method, **metrics, **cost})
    per_target = pd.DataFrame(rows, columns=KEY + METRICS)
    means = (
        per_target.groupby(["zoo", "regime", "method"], sort=True)[METRICS]
        .mean()
        .reset_index()
        .assign(target="mean")
    )
    summary = pd.concat([per_target, means[KEY + METRICS]], ignore_index=True)
    return summary.assign(**{GROUND_TRUTH: ground_truth})

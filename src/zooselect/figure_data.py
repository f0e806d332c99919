"""The numbers behind the figures and the runtime table, computed from the project's frames.

Each function takes pandas frames in the project's formats (see
:mod:`zooselect.figures`) and returns what a figure draws; none draws,
imports matplotlib or writes a file (zooselect.figures does the drawing).
Means over targets are recomputed from the per-target rows, NaN-aware like
``summary.build_summary``; the mean rows are used only when a frame has no
per-target rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .costs import OVERHEAD, PARTS, share
from .evaluation import top_k_experts
from .regimes import regime_shots

MEAN_TARGET = "mean"
# Summed over targets; the shares follow from the sums.
RUNTIME_SUMS = ["topk_finetune_seconds", "selection_seconds", *PARTS, OVERHEAD]
RUNTIME_COLUMNS = [
    "zoo",
    "regime",
    "method",
    "brute_force_seconds",
    *RUNTIME_SUMS,
    "selection_share",
    "selection_topk_share",
]

#: A heatmap panel: its regime, its row (or column) labels and its values.
Panel = tuple[str, list[str], np.ndarray]


# --------------------------------------------------------------------- helpers


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """ValueError naming every required column `frame` lacks."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame; got {type(frame).__name__}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} is missing required column(s) {missing}; it has {list(map(str, frame.columns))}"
        )


def _regime_key(regime: str) -> tuple:
    """Sort key: few-shot regimes by shots ascending, then ``full``, then anything else by name."""
    try:
        shots = regime_shots(str(regime))
    except ValueError:
        return (2, 0, str(regime))
    return (1, 0, str(regime)) if shots == 0 else (0, shots, str(regime))


def regime_order(regimes: Iterable[str]) -> list[str]:
    """Distinct regimes ordered by training-set size: ``5shot, 20shot, full``."""
    return sorted({str(regime) for regime in regimes}, key=_regime_key)


def per_target_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-target rows; the mean rows only if the frame has nothing else."""
    rows = frame[frame["target"].astype(str) != MEAN_TARGET]
    return rows if len(rows) else frame


def zoo_rows(summary: pd.DataFrame, zoo: str | None, what: str = "summary") -> pd.DataFrame:
    if zoo is None:
        return summary
    rows = summary[summary["zoo"] == zoo]
    if rows.empty:
        raise ValueError(
            f"{what} has no rows for zoo {zoo!r}; zoos present: {sorted(map(str, summary['zoo'].unique()))}"
        )
    return rows


def nanmean(values: pd.Series) -> float:
    finite = pd.to_numeric(values, errors="coerce").dropna()
    return float(finite.mean()) if len(finite) else float("nan")


def best_first(values: pd.Series) -> list[str]:
    """The index of `values` by value, highest first, NaN last, ties by name."""
    return sorted(values.index.astype(str), key=lambda m: (not np.isfinite(values[m]), -np.nan_to_num(values[m]), m))


def means_over_targets(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (regime, method): NaN-aware mean of `metric` over targets."""
    rows = per_target_rows(rows)
    return rows.groupby(["regime", "method"])[metric].agg(nanmean).rename(metric).reset_index()


# ------------------------------------------------------------- the figures


def topk_gain_panels(summary: pd.DataFrame, zoo: str, k: int = 3) -> tuple[list[str], list[Panel]]:
    """What ``figures.plot_topk_gain`` draws: its columns (the methods, best first by mean
    top-k gain over every target and regime, then "best possible") and, per regime, its row
    labels (targets, then the mean over targets) and top-k gains in percentage points."""
    gain_column = f"top{k}_gain"
    require_columns(summary, ["zoo", "target", "regime", "method", gain_column, "best_gain"], "summary")
    rows = per_target_rows(zoo_rows(summary, zoo))
    regimes = regime_order(rows["regime"])

    # Methods best first (mean top-k gain over everything, NaN last), ties by name.
    methods = best_first(rows.groupby("method")[gain_column].agg(nanmean))
    columns = methods + ["best possible"]

    panels = []
    for regime in regimes:
        block = rows[rows["regime"] == regime]
        targets = sorted(block["target"].astype(str).unique())
        gains = block.pivot_table(
            index="target", columns="method", values=gain_column, aggfunc="mean", dropna=False
        )
        gains = gains.reindex(index=targets, columns=methods)
        best = block.groupby("target")["best_gain"].agg(nanmean).reindex(targets)
        table = gains.assign(**{"best possible": best})
        if len(targets) > 1 and MEAN_TARGET not in targets:
            table.loc[f"{MEAN_TARGET} ({len(targets)} targets)"] = table.apply(nanmean)
        values = table[columns].to_numpy(dtype=float) * 100.0
        panels.append((regime, list(table.index), values))

    return columns, panels


def finetune_gain_panels(
    accuracies: pd.DataFrame, baseline: str, experts_order: Sequence[str] | None = None
) -> tuple[list[str], list[Panel]]:
    """What ``figures.plot_finetune_gains`` draws: its rows (experts) and, per regime, its
    targets and each expert's gain over `baseline` in percentage points."""
    require_columns(accuracies, ["target", "regime", "expert", "accuracy"], "accuracies")
    if accuracies.empty:
        raise ValueError("accuracies has no rows")
    known = set(accuracies["expert"].astype(str))
    if baseline not in known:
        raise ValueError(f"baseline expert {baseline!r} has no fine-tuned accuracy; experts: {sorted(known)}")
    if experts_order is None:
        experts = [baseline] + sorted(known - {baseline})
    else:
        experts = list(dict.fromkeys(map(str, experts_order)))
        unknown = [expert for expert in experts if expert not in known]
        if unknown:
            raise ValueError(f"experts_order names experts with no fine-tuned accuracy: {unknown}")
        if not experts:
            raise ValueError("experts_order is empty")

    frame = accuracies.assign(expert=accuracies["expert"].astype(str))
    regimes = regime_order(frame["regime"])
    panels = []
    for regime in regimes:
        block = frame[frame["regime"] == regime]
        table = block.pivot_table(index="expert", columns="target", values="accuracy", aggfunc="max")
        targets = sorted(table.columns.astype(str))
        table = table.reindex(columns=targets)
        base = table.loc[baseline] if baseline in table.index else pd.Series(np.nan, index=targets)
        gains = table.reindex(index=experts).sub(base, axis="columns") * 100.0
        panels.append((regime, targets, gains.to_numpy(dtype=float)))

    return experts, panels


@dataclass(frozen=True)
class MethodQuality:
    """What ``figures.plot_method_quality`` draws (see ``method_quality``)."""

    regimes: list[str]
    methods: list[str]  # best first by mean of the metric
    means: dict[str, pd.Series]  # column -> mean over targets by (regime, method)
    spreads: dict[str, pd.Series]  # column -> standard deviation over draws by (regime, method)
    draws: int  # stability draws of the zoo (0 without stability rows)
    undefined: int  # per-target cells where the metric is undefined
    cells: int  # per-target (target, regime, method) cells


def method_quality(
    summary: pd.DataFrame, zoo: str, stability: pd.DataFrame | None, metric: str
) -> MethodQuality:
    """Trials to best and `metric` per (regime, method), means over targets, with their
    standard deviation (ddof=1) over the stability draws where there are at least 2."""
    metrics = ["trials_to_best", metric]
    require_columns(summary, ["zoo", "target", "regime", "method", *metrics], "summary")
    rows = zoo_rows(summary, zoo)
    regimes = regime_order(rows["regime"])

    spreads: dict[str, pd.Series] = {}
    draws = 0
    if stability is not None:
        require_columns(stability, ["draw", "zoo", "target", "regime", "method", "trials_to_best"], "stability")
        stable = stability[stability["zoo"] == zoo]
        draws = int(stable["draw"].nunique())
        if draws >= 2:
            for column in (m for m in metrics if m in stable.columns):
                per_draw = pd.concat(
                    [
                        means_over_targets(group, column).assign(draw=draw)
                        for draw, group in stable.groupby("draw")
                    ],
                    ignore_index=True,
                )
                spreads[column] = per_draw.groupby(["regime", "method"])[column].std(ddof=1)

    means = {
        column: means_over_targets(rows, column).set_index(["regime", "method"])[column]
        for column in metrics
    }
    per_target = per_target_rows(rows)
    undefined = int(per_target[metric].isna().sum())
    methods = best_first(means[metric].groupby(level="method").agg(nanmean))
    return MethodQuality(regimes, methods, means, spreads, draws, undefined, len(per_target))



def accuracy_vs_shots_lines(
    accuracies: pd.DataFrame,
    scores: pd.DataFrame,
    baseline: str,
    method: str,
    experts: Iterable[str] | None = None,
    k: int = 3,
) -> pd.DataFrame:
    """The numbers ``plot_accuracy_vs_shots`` draws: one row per (target, regime)
    with columns target, regime, baseline, best, method (accuracies as
    fractions; NaN where there is nothing to show)."""
    require_columns(accuracies, ["target", "regime", "expert", "accuracy"], "accuracies")
    require_columns(scores, ["target", "regime", "method", "expert", "score"], "scores")
    accuracies = accuracies.assign(expert=accuracies["expert"].astype(str))
    if baseline not in set(accuracies["expert"]):
        raise ValueError(f"baseline expert {baseline!r} has no fine-tuned accuracy")
    methods = set(scores["method"].astype(str))
    if method not in methods:
        raise ValueError(f"method {method!r} has no scores; methods: {sorted(methods)}")
    zoo = set(map(str, experts)) if experts is not None else set(accuracies["expert"])
    scored = scores[scores["method"].astype(str) == method].assign(expert=lambda f: f["expert"].astype(str))
    rows = []
    for (target, regime), group in accuracies.groupby(["target", "regime"], sort=True):
        acc = group.groupby("expert")["accuracy"].max()
        row = {
            "target": str(target),
            "regime": str(regime),
            "baseline": np.nan,
            "best": np.nan,
            "method": np.nan,
        }
        if baseline in acc.index:
            row["baseline"] = float(acc[baseline])
        in_zoo = acc[acc.index.isin(zoo)].dropna()
        if len(in_zoo):
            row["best"] = float(in_zoo.max())
            chosen = scored[(scored["target"] == target) & (scored["regime"] == regime)]
            chosen = chosen[chosen["expert"].isin(in_zoo.index)].dropna(subset=["score"])
            chosen = chosen.groupby("expert")["score"].mean()
            if len(chosen):
                row["method"] = float(in_zoo[top_k_experts(chosen, k)].max())
        rows.append(row)
    return pd.DataFrame(rows, columns=["target", "regime", "baseline", "best", "method"])


def method_choice_rows(
    methods: pd.DataFrame, folds: pd.DataFrame, zoo: str, regime: str
) -> tuple[pd.DataFrame, int]:
    """One zoo and regime's rows of the method choice table (``zooselect.method_choice``), by mean
    Spearman correlation, lowest first, and the number of its leave-one-target-out folds."""
    rows = methods[(methods["zoo"] == zoo) & (methods["regime"] == regime)]
    if rows.empty:
        raise ValueError(f"method choice table has no rows for zoo '{zoo}', regime '{regime}'")
    picked = folds[(folds["zoo"] == zoo) & (folds["regime"] == regime)]
    return rows.sort_values("spearman_mean"), len(picked)


# ---------------------------------------------------------- runtime table


def runtime_table(summary: pd.DataFrame, zoo: str | None = None) -> pd.DataFrame:
    """The paper's runtime table as a tidy frame, seconds summed over targets.

    Columns: zoo, regime, method, brute_force_seconds, topk_finetune_seconds,
    selection_seconds, its parts forward_seconds, gradient_seconds,
    probe_seconds, source_means_seconds, scoring_seconds (``zooselect.costs``),
    selection_overhead_seconds, selection_share, selection_topk_share; one
    row per (zoo, regime, method): zoos in the summary's order, regimes by
    shots (5shot, 20shot, full), methods by name. Built from the per-target
    rows only (the mean rows are ignored).

    - brute_force_seconds: fine-tuning every expert of the zoo at every
      learning rate, summed over the regime's targets; the same for every
      method (each (zoo, target, regime) counted once, whatever methods it
      has rows for).
    - topk_finetune_seconds: fine-tuning the method's 3 highest-scored
      experts, summed over targets.
    - selection_seconds: what the method's selection consumed, summed over
      targets: the sum of its parts (0 for a part it does not use).
    - selection_overhead_seconds: the start-up overhead of the jobs the
      selection read, beside it (not in selection_seconds).
    - selection_share = selection_seconds / brute_force_seconds;
      selection_topk_share = (selection_seconds + topk_finetune_seconds) /
      brute_force_seconds (from the sums; NaN without a brute-force time).

    zoo: one zoo's rows; None every zoo's, each zoo on its own rows (zoos
    share inputs, such as RSA's probe, so their sums would count them
    twice). A sum over only NaN values is NaN.
    """
    require_columns(summary, ["zoo", "target", "regime", "method", "brute_force_seconds", *RUNTIME_SUMS], "summary")
    rows = zoo_rows(summary, zoo)
    rows = rows[rows["target"].astype(str) != MEAN_TARGET]
    if rows.empty:
        raise ValueError("summary has no per-target rows (only mean rows) to sum")
    brute = (
        rows.groupby(["zoo", "target", "regime"])["brute_force_seconds"]
        .max()
        .groupby(level=["zoo", "regime"])
        .sum(min_count=1)
    )
    table = rows.groupby(["zoo", "regime", "method"])[RUNTIME_SUMS].sum(min_count=1).reset_index()
    table["brute_force_seconds"] = [brute[(z, r)] for z, r in zip(table["zoo"], table["regime"])]
    table["selection_share"] = [share(s, b) for s, b in zip(table.selection_seconds, table.brute_force_seconds)]
    spent = table.selection_seconds + table.topk_finetune_seconds
    table["selection_topk_share"] = [share(s, b) for s, b in zip(spent, table.brute_force_seconds)]
    zoos = {name: index for index, name in enumerate(dict.fromkeys(rows["zoo"]))}
    order = {regime: index for index, regime in enumerate(regime_order(table["regime"]))}
    table = table.assign(_zoo=table["zoo"].map(zoos), _order=table["regime"].map(order))
    table = table.sort_values(["_zoo", "_order", "method"], kind="stable")
    return table[RUNTIME_COLUMNS].reset_index(drop=True)

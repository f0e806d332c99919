"""Which method to recommend: leave-one-target-out over the benchmark's targets.

For each held-out target, the method with the best mean Spearman correlation
(fine-tuned accuracy against score, ``results/summary.csv``) on the other
targets is chosen and judged on the held-out one. This is how a user who
trusts the benchmark fares on a target nobody has seen: they pick by the
evidence on every other target.

Per (zoo, regime) and pooled over regimes (``regime == "all"``: each
target's value is its mean over the regimes it has, so a target counts once),
:func:`leave_one_target_out` gives one row per fold (the held-out target,
the method chosen, its held-out Spearman and top-3 gain, and the best method
on that target in hindsight) and one row per method: how often it is chosen
(``wins``), the mean and standard deviation over targets of its Spearman
correlation and top-3 gain, and its worst target.

A method is *robust* when its Spearman correlation is positive on every
target: it never ranks a target's zoo backwards. :func:`recommend` names the
single method chosen in at least ``MAJORITY`` of the folds if it is robust;
otherwise the average rank (``mean_rank``) over the robust methods, or over
the three best by mean Spearman if none is robust.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ALL_REGIMES = "all"
MAJORITY = 0.75
#: Methods that are not model-selection scores: left out of the choice.
NOT_CANDIDATES = ("random",)
FOLD_COLUMNS = [
    "zoo", "regime", "held_out", "chosen", "chosen_train_spearman",
    "held_out_spearman", "held_out_top3_gain", "best_on_target", "best_spearman",
]
METHOD_COLUMNS = [
    "zoo", "regime", "method", "targets", "wins", "spearman_mean", "spearman_std",
    "top3_gain_mean", "top3_gain_std", "worst_target", "worst_spearman", "robust",
]


def per_target(summary: pd.DataFrame) -> pd.DataFrame:
    """(zoo, regime, target, method, spearman, top3_gain) rows, plus the regime ``"all"``:
    each (zoo, target, method)'s mean over its regimes (NaN values left out)."""
    rows = summary[(summary["target"] != "mean") & ~summary["method"].isin(NOT_CANDIDATES)]
    rows = rows[["zoo", "regime", "target", "method", "spearman", "top3_gain"]]
    pooled = (
        rows.groupby(["zoo", "target", "method"], as_index=False)[["spearman", "top3_gain"]]
        .mean()
        .assign(regime=ALL_REGIMES)
    )
    return pd.concat([rows, pooled[rows.columns]], ignore_index=True)


def _best(means: pd.Series) -> str:
    """The method with the highest value; ties go to the first name in sorted order."""
    means = means.dropna()
    top = means.max()
    return sorted(means.index[means == top])[0]


def _folds(table: pd.DataFrame) -> list[dict]:
    """One fold per target of a (zoo, regime)'s (target x method) Spearman table."""
    spearman = table.pivot(index="target", columns="method", values="spearman")
    gain = table.pivot(index="target", columns="method", values="top3_gain")
    folds = []
    for target in spearman.index:
        others = spearman.drop(index=target)
        if others.notna().sum().max() == 0 or spearman.loc[target].isna().all():
            continue  # nothing to choose by, or nothing to judge on (every accuracy equal)
        train_means = others.mean()
        chosen = _best(train_means)
        folds.append(
            {
                "held_out": target,
                "chosen": chosen,
                "chosen_train_spearman": train_means[chosen],
                "held_out_spearman": spearman.loc[target, chosen],
                "held_out_top3_gain": gain.loc[target, chosen],
                "best_on_target": _best(spearman.loc[target]),
                "best_spearman": spearman.loc[target].max(),
            }
        )
    return folds


def _methods(table: pd.DataFrame, folds: pd.DataFrame) -> list[dict]:
    wins = folds["chosen"].value_counts() if len(folds) else pd.Series(dtype=int)
    rows = []
    for method, group in table.groupby("method"):
        values = group.dropna(subset=["spearman"])
        worst = values.loc[values["spearman"].idxmin()] if len(values) else None
        rows.append(
            {
                "method": method,
                "targets": len(values),
                "wins": int(wins.get(method, 0)),
                "spearman_mean": values["spearman"].mean(),
                "spearman_std": values["spearman"].std(ddof=0),
                "top3_gain_mean": group["top3_gain"].mean(),
                "top3_gain_std": group["top3_gain"].std(ddof=0),
                "worst_target": worst["target"] if worst is not None else "",
                "worst_spearman": worst["spearman"] if worst is not None else np.nan,
                "robust": bool(len(values)) and bool((values["spearman"] > 0).all()),
            }
        )
    return rows


def leave_one_target_out(summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(folds, methods) tables of the leave-one-target-out choice, per (zoo, regime)."""
    fold_rows, method_rows = [], []
    for (zoo, regime), table in per_target(summary).groupby(["zoo", "regime"], sort=True):
        folds = pd.DataFrame(_folds(table))
        fold_rows += [{"zoo": zoo, "regime": regime, **row} for row in folds.to_dict("records")]
        method_rows += [{"zoo": zoo, "regime": regime, **row} for row in _methods(table, folds)]
    folds = pd.DataFrame(fold_rows, columns=FOLD_COLUMNS)
    methods = pd.DataFrame(method_rows, columns=METHOD_COLUMNS)
    methods = methods.sort_values(["zoo", "regime", "spearman_mean"], ascending=[True, True, False])
    return folds, methods.reset_index(drop=True)


@dataclass(frozen=True)
class Recommendation:
    """What to use: ``method`` (a method name, or ``"mean_rank"`` over ``members``), and why."""

    zoo: str
    regime: str
    method: str
    members: tuple[str, ...]
    folds: int
    reason: str


def recommend(folds: pd.DataFrame, methods: pd.DataFrame, zoo: str, regime: str = ALL_REGIMES) -> Recommendation:
    """The recommendation for one (zoo, regime) of :func:`leave_one_target_out`'s tables."""
    folds = folds[(folds["zoo"] == zoo) & (folds["regime"] == regime)]
    methods = methods[(methods["zoo"] == zoo) & (methods["regime"] == regime)]
    if folds.empty:
        raise ValueError(f"no leave-one-target-out folds for zoo '{zoo}', regime '{regime}'")
    n = len(folds)
    top = methods.sort_values(["wins", "spearman_mean"], ascending=False).iloc[0]
    robust = methods[methods["robust"] & (methods["method"] != "mean_rank")]
    if top["wins"] >= MAJORITY * n and top["robust"]:
        reason = (
            f"{top['method']} is chosen in {top['wins']} of {n} folds and its Spearman correlation "
            f"is positive on every target (mean {top['spearman_mean']:.2f})"
        )
        return Recommendation(zoo, regime, top["method"], (top["method"],), n, reason)
    if len(robust):
        members = tuple(sorted(robust["method"]))
        why = f"{len(members)} methods have a positive Spearman correlation on every target"
    else:
        members = tuple(sorted(methods[methods["method"] != "mean_rank"].head(3)["method"]))
        why = "no method has a positive Spearman correlation on every target; the three best by mean"
    reason = (
        f"no single method is chosen in {MAJORITY:.0%} of the {n} folds while being robust "
        f"(most often: {top['method']}, {top['wins']} of {n}); {why}"
    )
    return Recommendation(zoo, regime, "mean_rank", members, n, reason)

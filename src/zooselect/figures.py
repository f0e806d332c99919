"""The figures people look at, and the paper's runtime table.

Every ``plot_*`` function takes pandas frames in the project's formats,
writes one PNG at `path` (parent folders are created) and returns None.
They draw with matplotlib's Agg backend, close their figure, and write no
timestamp or software tag, so the same input gives the same bytes.

Inputs:

- `summary` (``summary.build_summary``): zoo, target, regime, method and
  the metrics; per-target rows plus mean rows (``target == "mean"``). The
  figures recompute means over targets from the per-target rows
  (NaN-aware, like ``build_summary``) and use the mean rows only when a
  frame has no per-target rows.
- `accuracies` (``summary.expert_accuracies``): target, regime, expert,
  accuracy.
- `scores` (``summary.read_scores``): target, regime, method, expert, score.
- `stability`: per-draw summary rows with an extra ``draw`` column.

Gains and accuracies are fractions in [0, 1] in the frames; the figures
show gains in percentage points (fraction x 100) and accuracies in %.

Figures:

- ``plot_topk_gain``: top-k gain per target x method (heatmap, one panel
  per regime) beside the best possible gain of the zoo.
- ``plot_finetune_gains``: fine-tuning gain of every expert over the
  baseline expert, expert x target, one panel per regime.
- ``plot_method_quality``: trials-to-best and Spearman per method (mean
  over targets), bars grouped by regime, error bars over stability draws.
- ``plot_accuracy_vs_shots``: accuracy against training-set size for the
  baseline, the best expert and the best of a method's top-3, per target.

Table:

- ``runtime_table``: per (zoo, regime, method), seconds summed over targets:
  brute force, top-3 fine-tuning, the selection and its parts, the overhead,
  and the shares of brute force.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402

from .costs import OVERHEAD, PARTS, share  # noqa: E402
from .evaluation import top_k_experts  # noqa: E402
from .regimes import regime_shots  # noqa: E402

MEAN_TARGET = "mean"
DPI = 110
GAIN_CMAP = "RdBu"  # red: worse than the baseline, blue: better
REGIME_COLORS = ("tab:orange", "tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:olive")
# Annotate heatmap cells only while a panel has at most this many cells.
MAX_ANNOTATED_CELLS = 600

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


# --------------------------------------------------------------------- helpers


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
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


def _per_target(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-target rows; the mean rows only if the frame has nothing else."""
    rows = frame[frame["target"].astype(str) != MEAN_TARGET]
    return rows if len(rows) else frame


def _zoo_rows(summary: pd.DataFrame, zoo: str | None, what: str = "summary") -> pd.DataFrame:
    if zoo is None:
        return summary
    rows = summary[summary["zoo"] == zoo]
    if rows.empty:
        raise ValueError(
            f"{what} has no rows for zoo {zoo!r}; zoos present: {sorted(map(str, summary['zoo'].unique()))}"
        )
    return rows


def _save(fig: plt.Figure, path: str | Path) -> None:
    """Write `fig` as a PNG to a temporary name, rename it to `path`, close the figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        # No "Software" tag and no timestamp: the same input gives the same bytes.
        fig.savefig(partial, format="png", dpi=DPI, metadata={"Software": None})
        os.replace(partial, path)  # a crash leaves nothing that looks finished
    finally:
        plt.close(fig)
        partial.unlink(missing_ok=True)


def _symmetric_norm(*arrays: np.ndarray, floor: float = 1.0) -> Normalize:
    """A colour scale centred at 0 that covers every finite value (at least +-floor)."""
    values = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays]) if arrays else np.array([])
    finite = values[np.isfinite(values)]
    limit = float(np.abs(finite).max()) if finite.size else 0.0
    limit = max(limit, floor)
    return Normalize(vmin=-limit, vmax=limit)


def _gain_cmap():
    return matplotlib.colormaps[GAIN_CMAP].with_extremes(bad="#e6e6e6")  # undefined cells: light grey


def _annotate(
    ax, values: np.ndarray, norm: Normalize, fontsize: float, bold: np.ndarray | None = None
) -> None:
    """Write each finite value in its cell (percentage points, signed)."""
    limit = norm.vmax
    for (row, col), value in np.ndenumerate(values):
        if not np.isfinite(value):
            continue
        color = "white" if abs(value) > 0.6 * limit else "black"
        weight = "bold" if bold is not None and bold[row, col] else "normal"
        text = "0.0" if round(value, 1) == 0 else f"{value:+.1f}"
        ax.text(col, row, text, ha="center", va="center", fontsize=fontsize, color=color, fontweight=weight)


def _heatmap(ax, values: np.ndarray, norm: Normalize):
    return ax.imshow(
        np.ma.masked_invalid(values), cmap=_gain_cmap(), norm=norm, aspect="auto", interpolation="nearest"
    )


def _nanmean(values: pd.Series) -> float:
    finite = pd.to_numeric(values, errors="coerce").dropna()
    return float(finite.mean()) if len(finite) else float("nan")


# ----------------------------------------------------------- 1. top-k gain


def plot_topk_gain(summary: pd.DataFrame, path: str | Path, zoo: str, k: int = 3) -> None:
    """Top-k selection gain per target and method: the paper's main figure.

    One heatmap panel per regime (rows: targets, then the mean over
    targets; columns: methods, best first by mean top-k gain over every
    target and regime, then a "best possible" column = the zoo's best
    gain). Cells: top-k gain over the baseline expert in percentage points,
    diverging colours centred at 0; bold numbers mark cells where the
    method's top-k reaches the best possible gain; blank grey cells are
    undefined. Needs the summary's ``top{k}_gain`` column (``top1_gain``
    and ``top3_gain`` exist).
    """
    gain_column = f"top{k}_gain"
    _require(summary, ["zoo", "target", "regime", "method", gain_column, "best_gain"], "summary")
    rows = _per_target(_zoo_rows(summary, zoo))
    regimes = regime_order(rows["regime"])

    # Methods best first (mean top-k gain over everything, NaN last), ties by name.
    overall = rows.groupby("method")[gain_column].agg(_nanmean)
    methods = sorted(
        overall.index.astype(str), key=lambda m: (not np.isfinite(overall[m]), -np.nan_to_num(overall[m]), m)
    )
    columns = methods + ["best possible"]

    panels = []
    for regime in regimes:
        block = rows[rows["regime"] == regime]
        targets = sorted(block["target"].astype(str).unique())
        gains = block.pivot_table(
            index="target", columns="method", values=gain_column, aggfunc="mean", dropna=False
        )
        gains = gains.reindex(index=targets, columns=methods)
        best = block.groupby("target")["best_gain"].agg(_nanmean).reindex(targets)
        table = gains.assign(**{"best possible": best})
        if len(targets) > 1 and MEAN_TARGET not in targets:
            table.loc[f"{MEAN_TARGET} ({len(targets)} targets)"] = table.apply(_nanmean)
        values = table[columns].to_numpy(dtype=float) * 100.0
        panels.append((regime, list(table.index), values))

    norm = _symmetric_norm(*(values for _, _, values in panels))
    n_cols = len(columns)
    heights = [max(len(labels), 1) for _, labels, _ in panels]
    width = min(2.8 + 0.62 * n_cols, 24.0)
    height = 1.6 + sum(0.36 * h + 1.3 for h in heights)
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(width, height),
        squeeze=False,
        gridspec_kw={"height_ratios": [h + 2.5 for h in heights]},
        layout="constrained",
    )
    fontsize = 7 if n_cols > 12 else 8
    image = None
    for ax, (regime, labels, values) in zip(axes[:, 0], panels):
        image = _heatmap(ax, values, norm)
        reaches_best = np.zeros_like(values, dtype=bool)
        reaches_best[:, :-1] = np.isclose(values[:, :-1], values[:, -1:], atol=1e-6)
        if values.size <= MAX_ANNOTATED_CELLS:
            _annotate(ax, values, norm, fontsize, bold=reaches_best)
        ax.set_xticks(range(n_cols), columns, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        for tick in ax.get_xticklabels()[-1:]:
            tick.set_fontweight("bold")
        ax.axvline(n_cols - 1.5, color="black", linewidth=2)  # methods | best possible
        if labels and labels[-1].startswith(MEAN_TARGET):
            ax.axhline(len(labels) - 1.5, color="black", linewidth=1)  # targets | mean
        ax.set_title(f"regime: {regime}", fontsize=10, loc="left")
        ax.set_ylabel("target")
    axes[-1, 0].set_xlabel(f"selection method (best first by mean top-{k} gain)  |  zoo's best expert")
    fig.suptitle(
        f"Top-{k} selection gain over the baseline expert — zoo: {zoo}\n"
        f"best accuracy among each method's {k} highest-scored experts minus the baseline's "
        f"(percentage points; bold = reaches the best possible; grey = undefined)",
        fontsize=10,
    )
    fig.colorbar(image, ax=axes[:, 0].tolist(), shrink=0.8, label=f"top-{k} gain (percentage points)")
    _save(fig, path)


# ----------------------------------------------------- 2. fine-tuning gains


def plot_finetune_gains(
    accuracies: pd.DataFrame,
    baseline: str,
    path: str | Path,
    experts_order: Sequence[str] | None = None,
) -> None:
    """Fine-tuning gain of every expert over the baseline expert.

    One heatmap panel per regime (5shot, 20shot, full), rows: experts,
    columns: targets; cell = expert's best fine-tuned accuracy minus the
    baseline's on that (target, regime), in percentage points, diverging
    colours centred at 0 (one scale for every panel), numbers written in the
    cells while they stay readable. Cells without an accuracy (or without
    the baseline's) are grey.

    experts_order: the rows, top to bottom (only these experts are drawn,
    so it can select one zoo); default: the baseline, then the others by
    name. An expert named there with no accuracy at all raises ValueError.
    """
    _require(accuracies, ["target", "regime", "expert", "accuracy"], "accuracies")
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

    norm = _symmetric_norm(*(values for _, _, values in panels))
    widths = [max(len(targets), 1) for _, targets, _ in panels]
    label_room = 0.065 * max(len(expert) for expert in experts) + 1.0
    width = min(label_room + sum(0.55 * w + 0.5 for w in widths) + 1.2, 30.0)
    height = min(2.4 + 0.27 * len(experts), 24.0)
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(width, height),
        squeeze=False,
        sharey=True,
        gridspec_kw={"width_ratios": widths},
        layout="constrained",
    )
    labels = [f"{expert} (baseline)" if expert == baseline else expert for expert in experts]
    image = None
    for ax, (regime, targets, values) in zip(axes[0], panels):
        image = _heatmap(ax, values, norm)
        if values.size <= MAX_ANNOTATED_CELLS and len(experts) <= 45:
            _annotate(ax, values, norm, fontsize=6.5 if len(experts) > 20 else 8)
        ax.set_xticks(range(len(targets)), targets, rotation=45, ha="right", fontsize=8)
        ax.set_title(f"regime: {regime}", fontsize=10)
        ax.set_xlabel("target")
    axes[0, 0].set_yticks(range(len(experts)), labels, fontsize=7 if len(experts) > 20 else 8)
    axes[0, 0].set_ylabel("expert (fine-tuned)")
    fig.suptitle(
        f"Fine-tuning gain of each expert over the baseline {baseline}\n"
        "best fine-tuned test accuracy minus the baseline's (percentage points; grey = no result)",
        fontsize=10,
    )
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.6, label="gain over baseline (percentage points)")
    _save(fig, path)


# ------------------------------------------------------- 3. method quality


def _means_over_targets(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (regime, method): NaN-aware mean of `metric` over targets."""
    rows = _per_target(rows)
    return rows.groupby(["regime", "method"])[metric].agg(_nanmean).rename(metric).reset_index()


#: The correlations the method-quality figure can show (config report.metric).
CORRELATIONS = {  # summary column -> (name, axis label)
    "spearman": ("Spearman", "Spearman ρ"),
    "pearson": ("Pearson", "Pearson r"),
    "kendall": ("Kendall's tau", "Kendall τ"),
    "weighted_tau": ("weighted tau", "weighted τ"),
}


def plot_method_quality(
    summary: pd.DataFrame,
    path: str | Path,
    zoo: str,
    stability: pd.DataFrame | None = None,
    metric: str = "spearman",
) -> None:
    """Trials-to-best (lower is better) and a correlation (higher is better) per method.

    metric: the correlation, a summary column of ``CORRELATIONS`` (Spearman by
    default; the standard benchmark's headline is ``weighted_tau``). Two
    panels, methods on the x axis (best first by its mean), one bar per
    regime: the mean over targets (undefined values are left out; a method
    with none defined shows "n/a"). Error bars: standard deviation (ddof=1)
    over the draws of `stability` of that mean, drawn only when `stability`
    has at least 2 draws for this zoo and the metric's column; the figure
    says when they are absent.
    """
    if metric not in CORRELATIONS:
        raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(CORRELATIONS)}")
    name, symbol = CORRELATIONS[metric]
    metrics = ["trials_to_best", metric]
    _require(summary, ["zoo", "target", "regime", "method", *metrics], "summary")
    rows = _zoo_rows(summary, zoo)
    regimes = regime_order(rows["regime"])

    spreads: dict[str, pd.Series] = {}
    draws = 0
    if stability is not None:
        _require(stability, ["draw", "zoo", "target", "regime", "method", "trials_to_best"], "stability")
        stable = stability[stability["zoo"] == zoo]
        draws = int(stable["draw"].nunique())
        if draws >= 2:
            for column in (m for m in metrics if m in stable.columns):
                per_draw = pd.concat(
                    [
                        _means_over_targets(group, column).assign(draw=draw)
                        for draw, group in stable.groupby("draw")
                    ],
                    ignore_index=True,
                )
                spreads[column] = per_draw.groupby(["regime", "method"])[column].std(ddof=1)

    means = {
        column: _means_over_targets(rows, column).set_index(["regime", "method"])[column]
        for column in metrics
    }
    per_target = _per_target(rows)
    undefined = int(per_target[metric].isna().sum())
    by_method = means[metric].groupby(level="method").agg(_nanmean)
    methods = sorted(
        by_method.index.astype(str),
        key=lambda m: (not np.isfinite(by_method[m]), -np.nan_to_num(by_method[m]), m),
    )

    n_methods = len(methods)
    width = min(3.0 + n_methods * (0.28 * len(regimes) + 0.25), 26.0)
    fig, axes = plt.subplots(2, 1, figsize=(max(width, 6.5), 8.0), sharex=True, layout="constrained")
    bar_width = 0.8 / max(len(regimes), 1)
    x = np.arange(n_methods)
    panels = [
        (
            "trials_to_best",
            "trials to best (lower is better)",
            "Trials to reach the most accurate expert, in score order (1 = perfect)",
        ),
        (
            metric,
            f"{symbol} (higher is better)",
            f"{name} {'correlation ' if metric in ('spearman', 'pearson') else ''}between scores and fine-tuned accuracies",
        ),
    ]
    for ax, (column, ylabel, title) in zip(axes, panels):
        for index, regime in enumerate(regimes):
            offsets = x - 0.4 + bar_width * (index + 0.5)
            heights = np.array(
                [means[column].get((regime, method), np.nan) for method in methods], dtype=float
            )
            errors = None
            if column in spreads:
                errors = np.array(
                    [spreads[column].get((regime, method), np.nan) for method in methods], dtype=float
                )
            color = REGIME_COLORS[index % len(REGIME_COLORS)]
            defined = np.isfinite(heights)
            ax.bar(offsets[defined], heights[defined], width=bar_width, color=color, label=regime)
            if errors is not None:
                shown = defined & np.isfinite(errors)
                ax.errorbar(
                    offsets[shown],
                    heights[shown],
                    yerr=errors[shown],
                    fmt="none",
                    ecolor="black",
                    elinewidth=0.8,
                    capsize=2,
                )
            for offset in offsets[~defined]:
                ax.annotate(
                    "n/a",
                    (offset, 0),
                    xytext=(0, 3),
                    textcoords="offset points",
                    rotation=90,
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    color=color,
                    fontweight="bold",
                )
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_ylabel(ylabel)
        ax.axhline(1 if column == "trials_to_best" else 0, color="black", linewidth=0.8)
        ax.grid(axis="y", linewidth=0.4, alpha=0.6)
        ax.set_axisbelow(True)
    axes[1].set_ylim(-1.05, 1.05)
    axes[0].set_ylim(bottom=0)
    axes[0].legend(
        title="regime",
        fontsize=8,
        title_fontsize=8,
        ncols=len(regimes),
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        frameon=False,
    )
    axes[1].set_xticks(x, methods, rotation=45, ha="right", fontsize=8)
    axes[1].set_xlabel(f"selection method (best first by mean {name})")
    if draws >= 2:
        note = f"error bars: standard deviation over {draws} draws of the probe set"
        if metric not in spreads:
            note += f", for trials to best only (the draws do not record {name})"
    elif stability is None:
        note = "no error bars: no stability runs given"
    else:
        note = f"no error bars: stability runs have {draws} draw(s) for this zoo (need ≥ 2)"
    undefined_note = (
        f"; {name} undefined for {undefined} of {len(per_target)} (target, regime, method) cells, left out"
        if undefined
        else ""
    )
    fig.suptitle(
        f"Selection quality per method, mean over targets — zoo: {zoo}\n({note}{undefined_note})",
        fontsize=10,
    )
    _save(fig, path)


# -------------------------------------------------- 4. accuracy vs shots


def plot_accuracy_vs_shots(
    accuracies: pd.DataFrame,
    scores: pd.DataFrame,
    baseline: str,
    method: str,
    path: str | Path,
    experts: Iterable[str] | None = None,
    k: int = 3,
) -> None:
    """Fine-tuned accuracy against training-set size, one small panel per target.

    x: the regimes ordered by shots (5shot, 20shot, full); three lines: the
    baseline expert, the best expert of the zoo (an oracle), and the best of
    the k (default 3) highest-scored experts of `method` (ties broken by
    expert name, as in ``evaluation.top_k_experts``). NaN scores are left
    out. A (target, regime) without data is a gap.

    experts: the zoo to choose from (default: every expert with an
    accuracy); the baseline is always drawn, in the zoo or not. The numbers
    drawn are those of ``accuracy_vs_shots_lines``.
    """
    lines_frame = accuracy_vs_shots_lines(accuracies, scores, baseline, method, experts=experts, k=k)
    regimes = regime_order(lines_frame["regime"])
    targets = sorted(lines_frame["target"].unique())
    lines = {
        name: lines_frame.pivot(index="target", columns="regime", values=name)
        .reindex(index=targets, columns=regimes)
        .to_numpy(dtype=float)
        for name in ("baseline", "best", "method")
    }

    n_cols = min(4, len(targets))
    n_rows = math.ceil(len(targets) / n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(1.2 + 3.1 * n_cols, 1.2 + 2.6 * n_rows), squeeze=False, layout="constrained"
    )
    # Drawn in this order; the oracle last, with hollow markers, so it stays
    # visible where the method's pick is the best expert.
    styles = [
        (
            "baseline",
            f"baseline ({baseline})",
            {"color": "tab:red", "linestyle": "--", "marker": "^", "markersize": 5},
        ),
        (
            "method",
            f"best of {method}'s top-{k}",
            {"color": "tab:blue", "linestyle": "-", "marker": "o", "markersize": 5},
        ),
        (
            "best",
            "best expert (oracle)",
            {"color": "black", "linestyle": ":", "marker": "s", "markersize": 9, "markerfacecolor": "none"},
        ),
    ]
    x = np.arange(len(regimes))
    for index, ax in enumerate(axes.ravel()):
        if index >= len(targets):
            ax.set_visible(False)
            continue
        for name, label, style in styles:
            ax.plot(x, lines[name][index] * 100.0, label=label, linewidth=1.4, **style)
        ax.set_title(targets[index], fontsize=10)
        ax.set_xticks(x, regimes, fontsize=8)
        ax.set_xlim(-0.3, len(regimes) - 0.7)
        ax.grid(linewidth=0.4, alpha=0.6)
        ax.tick_params(axis="y", labelsize=8)
        if index % n_cols == 0:
            ax.set_ylabel("test accuracy (%)")
        if index >= len(targets) - n_cols:
            ax.set_xlabel("training set (shots per class)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9)
    fig.suptitle(
        f"Fine-tuned accuracy vs training-set size: {method}'s top-{k} pick against the baseline and the best expert",
        fontsize=10,
    )
    _save(fig, path)


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
    _require(accuracies, ["target", "regime", "expert", "accuracy"], "accuracies")
    _require(scores, ["target", "regime", "method", "expert", "score"], "scores")
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


# ------------------------------------------------------- 5. runtime table


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
    _require(summary, ["zoo", "target", "regime", "method", "brute_force_seconds", *RUNTIME_SUMS], "summary")
    rows = _zoo_rows(summary, zoo)
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

"""The figures people look at: drawing only.

The numbers each figure shows are computed by :mod:`zooselect.figure_data`
(as is the paper's runtime table); this module lays them out. Every ``plot_*`` function takes pandas frames in the project's formats,
writes one PNG at `path` (parent folders are created) and returns None.
They draw with matplotlib's Agg backend, close their figure, and write no
timestamp or software tag, so the same input gives the same bytes.

Inputs:

- `summary` (``summary.build_summary``): zoo, target, regime, method and
  the metrics; per-target rows plus mean rows (``target == "mean"``).
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
- ``plot_method_choice``: leave-one-target-out's choice of method.
- ``plot_ranking``: ``zooselect rank``'s ranking table (``rank.ranking_table``),
  one bar panel per method.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402

from .figure_data import (  # noqa: E402
    MEAN_TARGET,
    accuracy_vs_shots_lines,
    finetune_gain_panels,
    method_choice_rows,
    method_quality,
    regime_order,
    topk_gain_panels,
)
from .io import atomic_path  # noqa: E402

DPI = 110
GAIN_CMAP = "RdBu"  # red: worse than the baseline, blue: better
REGIME_COLORS = ("tab:orange", "tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:olive")
# Annotate heatmap cells only while a panel has at most this many cells.
MAX_ANNOTATED_CELLS = 600


# --------------------------------------------------------------------- helpers


def _save(fig: plt.Figure, path: str | Path, dpi: int = DPI) -> None:
    """Write `fig` as a PNG to a temporary name, rename it to `path`, close the figure."""
    try:
        # No "Software" tag and no timestamp: the same input gives the same bytes.
        with atomic_path(path) as partial:  # a crash leaves nothing that looks finished
            fig.savefig(partial, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        plt.close(fig)


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
    columns, panels = topk_gain_panels(summary, zoo, k)
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
    experts, panels = finetune_gain_panels(accuracies, baseline, experts_order)
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
    quality = method_quality(summary, zoo, stability, metric)
    regimes, methods, means, spreads = quality.regimes, quality.methods, quality.means, quality.spreads
    draws, undefined = quality.draws, quality.undefined

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
        f"; {name} undefined for {undefined} of {quality.cells} (target, regime, method) cells, left out"
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


def plot_method_choice(methods: pd.DataFrame, folds: pd.DataFrame, path: str | Path, zoo: str, regime: str) -> None:
    """Leave-one-target-out (``zooselect.method_choice``): each method's mean Spearman correlation
    over targets (bar) and its standard deviation (line), green where it is positive on every
    target, with how many folds chose it; one zoo and regime."""
    rows, n_folds = method_choice_rows(methods, folds, zoo, regime)
    fig, ax = plt.subplots(figsize=(8.5, 0.3 * len(rows) + 1.4))
    fig.subplots_adjust(left=0.24, right=0.97)  # room for the longest method names
    y = np.arange(len(rows))
    colours = ["tab:green" if robust else "tab:gray" for robust in rows["robust"]]
    ax.barh(y, rows["spearman_mean"], xerr=rows["spearman_std"], color=colours, alpha=0.55, capsize=2)
    for i, (_, row) in enumerate(rows.iterrows()):
        if row["wins"]:
            ax.text(1.02, i, f"chosen {row['wins']}/{n_folds}", va="center", fontsize=7)
    ax.set_yticks(y, rows["method"], fontsize=8)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlim(-1, 1.3)
    ax.set_xlabel("Spearman correlation with fine-tuned accuracy (bar: mean over targets, line: std)")
    ax.set_title(
        f"{zoo}, {regime}: leave-one-target-out over {n_folds} targets (green: positive on every target)",
        fontsize=9,
    )
    _save(fig, path)


# ------------------------------------------------- zooselect rank's ranking


RANKING_DPI = 120


def plot_ranking(table: pd.DataFrame, methods: Sequence[str], path: str | Path) -> None:
    """A bar chart: one panel per method (and fine-tuned accuracy), experts in ranking order."""
    panels = [*methods, *(["finetune_accuracy"] if "finetune_accuracy" in table else [])]
    height = max(2.5, 0.35 * len(table) + 1.2)
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels) + 1.5, height), sharey=True, squeeze=False)
    experts = list(table["expert"])[::-1]  # best at the top
    for ax, name in zip(axes[0], panels):
        values = table.set_index("expert").loc[experts, name].to_numpy(dtype=float)
        colours = ["#4c72b0" if name != "finetune_accuracy" else "#dd8452"] * len(values)
        ax.barh(range(len(experts)), np.nan_to_num(values), color=colours)
        ax.set_title(name, fontsize=10)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.tick_params(axis="x", labelsize=8)
    axes[0][0].set_yticks(range(len(experts)), experts, fontsize=9)
    fig.suptitle(f"experts ranked by {methods[0]} (top = best)", fontsize=11)
    fig.tight_layout()
    _save(fig, path, dpi=RANKING_DPI)

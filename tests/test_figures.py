"""The figures (PNG files) and the runtime table, on small hand-built frames."""

import math

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

from zooselect import figure_data, figures
from zooselect.summary import KEY, METRICS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TARGETS = ["cars", "pets", "textures"]
REGIMES = ["full", "5shot"]  # deliberately not in shots order
METHODS = ["lfc", "leep", "random", "rsa"]
EXPERTS = ["generic", "e_a", "e_b", "e_c", "e_d"]
BASELINE = "generic"


def make_summary(zoos=("single_domain", "multi_domain"), seed=0) -> pd.DataFrame:
    """Per-target rows for every (zoo, target, regime, method), then mean rows, as build_summary."""
    rng = np.random.default_rng(seed)
    rows = []
    for zoo in zoos:
        for target in TARGETS:
            for regime in REGIMES:
                best = float(rng.uniform(0.0, 0.1))
                brute = float(rng.uniform(50, 100))
                for method in METHODS:
                    rows.append(
                        {
                            "zoo": zoo,
                            "target": target,
                            "regime": regime,
                            "method": method,
                            "spearman": float(rng.uniform(-1, 1)),
                            "pearson": float(rng.uniform(-1, 1)),
                            "kendall": float(rng.uniform(-1, 1)),
                            "weighted_tau": float(rng.uniform(-1, 1)),
                            "top1_gain": float(rng.uniform(-0.1, best)),
                            "top3_gain": float(rng.uniform(-0.05, best)),
                            "best_gain": best,
                            "regret_at_3": float(rng.uniform(0, 0.1)),
                            "trials_to_best": int(rng.integers(1, 6)),
                            "selection_seconds": float(rng.uniform(0, 5)),
                            "topk_finetune_seconds": float(rng.uniform(5, 20)),
                            "brute_force_seconds": brute,
                        }
                    )
    per_target = pd.DataFrame(rows, columns=KEY + METRICS)
    # The selection's parts (a generator of their own: the other values stay as they were).
    costs = np.random.default_rng(seed + 1)
    per_target["forward_seconds"] = costs.uniform(0, 4, len(per_target))
    per_target["scoring_seconds"] = per_target["selection_seconds"] - per_target["forward_seconds"]
    for part in ("gradient_seconds", "probe_seconds", "source_means_seconds"):
        per_target[part] = 0.0
    per_target["selection_overhead_seconds"] = costs.uniform(0, 3, len(per_target))
    per_target["selection_topk_share"] = (
        per_target["selection_seconds"] + per_target["topk_finetune_seconds"]
    ) / per_target["brute_force_seconds"]
    # One undefined Spearman (every expert at the same accuracy).
    per_target.loc[
        (per_target.target == "pets") & (per_target.method == "rsa") & (per_target.regime == "5shot"),
        "spearman",
    ] = np.nan
    means = (
        per_target.groupby(["zoo", "regime", "method"])[METRICS].mean().reset_index().assign(target="mean")
    )
    return pd.concat([per_target, means[KEY + METRICS]], ignore_index=True)


def make_accuracies() -> pd.DataFrame:
    rows = []
    for t, target in enumerate(TARGETS):
        for r, regime in enumerate(REGIMES):
            for e, expert in enumerate(EXPERTS):
                # Deterministic, distinct values: e_c is best on cars, e_d elsewhere.
                accuracy = 0.5 + 0.2 * (regime == "full") + 0.01 * e + 0.001 * t
                if target == "cars" and expert == "e_c":
                    accuracy += 0.1
                rows.append(
                    {
                        "target": target,
                        "regime": regime,
                        "expert": expert,
                        "accuracy": accuracy,
                        "seconds": 1.0,
                    }
                )
    return pd.DataFrame(rows)


def make_scores() -> pd.DataFrame:
    rows = []
    for target in TARGETS:
        for regime in REGIMES:
            for m, method in enumerate(METHODS):
                for e, expert in enumerate(EXPERTS):
                    score = float((e * (m + 1)) % 5)  # some ties, broken by name
                    rows.append(
                        {
                            "target": target,
                            "regime": regime,
                            "method": method,
                            "expert": expert,
                            "score": score,
                            "seconds": 0.1,
                        }
                    )
    return pd.DataFrame(rows)


def make_stability(seeds=(0, 1)) -> pd.DataFrame:
    return pd.concat([make_summary(seed=10 + seed).assign(draw=seed) for seed in seeds], ignore_index=True)


def assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000  # a real figure, not an empty canvas
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert image.std() > 0.05  # not a blank canvas


# Each figure: a function writing one PNG to the path it is given.
FIGURES = {
    "topk_gain": lambda path: figures.plot_topk_gain(make_summary(), path, "single_domain"),
    "topk_gain_top1": lambda path: figures.plot_topk_gain(make_summary(), path, "multi_domain", k=1),
    "finetune_gains": lambda path: figures.plot_finetune_gains(make_accuracies(), BASELINE, path),
    "method_quality": lambda path: figures.plot_method_quality(make_summary(), path, "single_domain"),
    "method_quality_stability": lambda path: figures.plot_method_quality(
        make_summary(), path, "single_domain", stability=make_stability()
    ),
    "accuracy_vs_shots": lambda path: figures.plot_accuracy_vs_shots(
        make_accuracies(), make_scores(), BASELINE, "lfc", path
    ),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_each_figure_writes_a_readable_png_with_the_same_bytes_every_time(tmp_path, name):
    first, second = tmp_path / "first" / f"{name}.png", tmp_path / f"{name}.png"
    FIGURES[name](first)  # creates the missing parent folder
    FIGURES[name](second)
    assert_png(first)
    assert first.read_bytes() == second.read_bytes()
    assert plt.get_fignums() == []  # every figure closed
    assert (
        sorted(f.name for f in tmp_path.rglob("*") if f.is_file()) == [f"{name}.png"] * 2
    )  # no partial file


def captured(monkeypatch):
    """Replace the saving step: keep the figure to inspect it, write nothing."""
    kept = []

    def keep(fig, path):
        kept.append(fig)

    monkeypatch.setattr(figures, "_save", keep)
    return kept


def errorbars(fig) -> int:
    return sum(isinstance(c, ErrorbarContainer) for ax in fig.axes for c in ax.containers)


def test_method_quality_draws_error_bars_only_with_two_seeds_or_more(monkeypatch):
    kept = captured(monkeypatch)
    figures.plot_method_quality(
        make_summary(), "unused.png", "single_domain", stability=make_stability((0, 1))
    )
    figures.plot_method_quality(make_summary(), "unused.png", "single_domain", stability=make_stability((0,)))
    figures.plot_method_quality(make_summary(), "unused.png", "single_domain")
    with_seeds, one_seed, none = kept
    assert errorbars(with_seeds) == 2 * len(REGIMES)  # per panel, per regime
    assert "standard deviation over 2 draws of the probe set" in with_seeds._suptitle.get_text()
    assert errorbars(one_seed) == 0 and "1 draw" in one_seed._suptitle.get_text()
    assert errorbars(none) == 0 and "no error bars" in none._suptitle.get_text()
    assert "Spearman undefined for 1 of" in none._suptitle.get_text()
    for fig in kept:
        plt.close(fig)


def test_method_quality_bar_heights_are_means_over_targets_skipping_nan(monkeypatch):
    kept = captured(monkeypatch)
    summary = make_summary()
    figures.plot_method_quality(summary, "unused.png", "single_domain")
    fig = kept[0]
    spearman_axis = fig.axes[1]
    rows = summary[(summary.zoo == "single_domain") & (summary.target != "mean")]
    expected = rows[(rows.method == "rsa") & (rows.regime == "5shot")].spearman.dropna().mean()
    heights = [patch.get_height() for patch in spearman_axis.patches]
    assert any(math.isclose(h, expected) for h in heights)
    plt.close(fig)


def test_method_quality_shows_the_configured_correlation(monkeypatch):
    """report.metric: weighted_tau, the standard benchmark's headline, instead of Spearman."""
    kept = captured(monkeypatch)
    summary = make_summary(zoos=("given",))
    # Stability draws as stability_draws.csv records them: no weighted tau.
    draws = pd.concat([make_summary(zoos=("given",), seed=10 + s).assign(draw=s) for s in (0, 1)])
    draws = draws.drop(columns="weighted_tau")
    figures.plot_method_quality(summary, "unused.png", "given", stability=draws, metric="weighted_tau")
    fig = kept[0]
    rows = summary[summary.target != "mean"]
    expected = rows[(rows.method == "rsa") & (rows.regime == "full")].weighted_tau.mean()
    assert any(math.isclose(patch.get_height(), expected) for patch in fig.axes[1].patches)
    assert fig.axes[1].get_ylabel() == "weighted τ (higher is better)"
    assert "by mean weighted tau" in fig.axes[1].get_xlabel()
    assert "for trials to best only" in fig._suptitle.get_text()  # the draws record no weighted tau
    plt.close(fig)
    with pytest.raises(ValueError, match="unknown metric 'tau'"):
        figures.plot_method_quality(summary, "unused.png", "given", metric="tau")


def test_topk_gain_panels_follow_the_shots_and_end_with_the_best_possible_column(monkeypatch):
    kept = captured(monkeypatch)
    figures.plot_topk_gain(make_summary(), "unused.png", "single_domain")
    fig = kept[0]
    panels = [ax for ax in fig.axes if ax.get_title(loc="left").startswith("regime")]
    assert [ax.get_title(loc="left") for ax in panels] == ["regime: 5shot", "regime: full"]
    labels = [tick.get_text() for tick in panels[0].get_xticklabels()]
    assert labels[-1] == "best possible" and sorted(labels[:-1]) == sorted(METHODS)
    rows = [tick.get_text() for tick in panels[0].get_yticklabels()]
    assert rows == TARGETS + ["mean (3 targets)"]
    plt.close(fig)


def test_runtime_table_sums_the_per_target_rows():
    summary = make_summary()
    table = figure_data.runtime_table(summary, zoo="single_domain")
    assert list(table.columns) == [
        "zoo",
        "regime",
        "method",
        "brute_force_seconds",
        "topk_finetune_seconds",
        "selection_seconds",
        "forward_seconds",
        "gradient_seconds",
        "probe_seconds",
        "source_means_seconds",
        "scoring_seconds",
        "selection_overhead_seconds",
        "selection_share",
        "selection_topk_share",
    ]
    assert (table.zoo == "single_domain").all()
    assert list(table.regime) == ["5shot"] * len(METHODS) + ["full"] * len(METHODS)
    assert list(table.method) == sorted(METHODS) * 2
    rows = summary[(summary.zoo == "single_domain") & (summary.target != "mean")]
    for _, row in table.iterrows():
        block = rows[(rows.regime == row.regime) & (rows.method == row.method)]
        assert math.isclose(row.topk_finetune_seconds, sum(block.topk_finetune_seconds))
        assert math.isclose(row.selection_seconds, sum(block.selection_seconds))
        assert math.isclose(row.selection_overhead_seconds, sum(block.selection_overhead_seconds))
        parts = row.forward_seconds + row.gradient_seconds + row.probe_seconds + row.source_means_seconds
        assert math.isclose(row.selection_seconds, parts + row.scoring_seconds)
        assert math.isclose(row.selection_share, row.selection_seconds / row.brute_force_seconds)
        spent = row.selection_seconds + row.topk_finetune_seconds
        assert math.isclose(row.selection_topk_share, spent / row.brute_force_seconds)
        # brute force: one value per target, the same whatever the method
        per_target = rows[rows.regime == row.regime].groupby("target").brute_force_seconds.first()
        assert math.isclose(row.brute_force_seconds, sum(per_target))


def test_runtime_table_by_hand_and_for_every_zoo():
    def row(zoo, target, method, brute, topk, selection):
        # The selection split into a forward pass (60 %) and its scoring, and an overhead of 1 s.
        return {
            "zoo": zoo,
            "target": target,
            "regime": "20shot",
            "method": method,
            "brute_force_seconds": brute,
            "topk_finetune_seconds": topk,
            "selection_seconds": selection,
            "forward_seconds": 0.6 * selection,
            "gradient_seconds": 0.0,
            "probe_seconds": 0.0,
            "source_means_seconds": 0.0,
            "scoring_seconds": 0.4 * selection,
            "selection_overhead_seconds": 1.0,
        }

    seconds = ["brute_force_seconds", "topk_finetune_seconds", "selection_seconds"]

    summary = pd.DataFrame(
        [
            row("single_domain", "a", "lfc", 100.0, 10.0, 1.0),
            row("single_domain", "a", "leep", 100.0, 12.0, 0.5),
            row("single_domain", "b", "lfc", 40.0, 4.0, 2.0),
            row("single_domain", "b", "leep", 40.0, 6.0, np.nan),  # a missing selection time
            row("multi_domain", "a", "lfc", 30.0, 3.0, 0.25),
            row("single_domain", "mean", "lfc", 70.0, 7.0, 1.5),  # mean rows are ignored
        ]
    )
    single = figure_data.runtime_table(summary, "single_domain").set_index("method")
    assert single.loc["lfc", seconds].tolist() == [140.0, 14.0, 3.0]
    assert single.loc["leep", seconds].tolist() == [140.0, 18.0, 0.5]
    assert single.loc["lfc", "selection_overhead_seconds"] == 2.0  # 1 s on each target
    assert single.loc["lfc", "forward_seconds"] == pytest.approx(1.8)
    assert single.loc["lfc", "selection_topk_share"] == pytest.approx((3.0 + 14.0) / 140.0)
    # Every zoo on its own rows (zoos share inputs, such as RSA's probe: a sum would count them twice).
    every = figure_data.runtime_table(summary).set_index(["zoo", "method"])
    assert list(every.index) == [("single_domain", "leep"), ("single_domain", "lfc"), ("multi_domain", "lfc")]
    assert every.loc[("single_domain", "lfc"), seconds].tolist() == [140.0, 14.0, 3.0]
    assert every.loc[("multi_domain", "lfc"), seconds].tolist() == [30.0, 3.0, 0.25]


def test_accuracy_vs_shots_lines_are_baseline_oracle_and_best_of_top3():
    accuracies, scores = make_accuracies(), make_scores()
    lines = figure_data.accuracy_vs_shots_lines(accuracies, scores, BASELINE, "leep")
    # leep (m=1): score = 2e % 5 -> generic 0, e_a 2, e_b 4, e_c 1, e_d 3: top-3 = e_b, e_d, e_a
    cars = lines.set_index(["target", "regime"]).loc[("cars", "5shot")]
    assert math.isclose(cars.baseline, 0.5)
    assert math.isclose(cars.best, 0.5 + 0.03 + 0.1)  # e_c, not in leep's top-3
    assert math.isclose(cars.method, 0.5 + 0.04)  # e_d
    pets = lines.set_index(["target", "regime"]).loc[("pets", "full")]
    assert math.isclose(pets.best, pets.method)  # e_d is in the top-3 and the best
    # Restricted to a zoo without e_b and e_d: top-3 = e_a, e_c, generic.
    zoo = figure_data.accuracy_vs_shots_lines(
        accuracies, scores, BASELINE, "leep", experts=["e_a", "e_c", "generic"]
    )
    cars = zoo.set_index(["target", "regime"]).loc[("cars", "5shot")]
    assert math.isclose(cars.method, 0.5 + 0.03 + 0.1)


def test_regimes_are_ordered_by_shots():
    assert figure_data.regime_order(["full", "20shot", "5shot", "full"]) == ["5shot", "20shot", "full"]
    assert figure_data.regime_order(["other", "full", "1shot"]) == ["1shot", "full", "other"]


def test_single_target_missing_regime_small_zoo_and_nan_metrics_still_draw(tmp_path):
    summary = make_summary(zoos=("single_domain",))
    summary = summary[(summary.target == "cars") & (summary.regime == "full")].copy()
    summary.loc[summary.method == "lfc", "spearman"] = np.nan  # undefined for a whole method
    figures.plot_topk_gain(summary, tmp_path / "topk.png", "single_domain")
    figures.plot_method_quality(
        summary, tmp_path / "quality.png", "single_domain", stability=make_stability((3,))
    )
    accuracies = make_accuracies()
    few = accuracies[accuracies.expert.isin([BASELINE, "e_a"]) & (accuracies.target == "cars")]
    few = few[~((few.regime == "5shot") & (few.expert == BASELINE))]  # baseline missing in one regime
    figures.plot_finetune_gains(few, BASELINE, tmp_path / "gains.png", experts_order=["e_a", BASELINE])
    scores = make_scores()
    scores.loc[scores.expert == "e_a", "score"] = np.nan
    figures.plot_accuracy_vs_shots(few, scores, BASELINE, "rsa", tmp_path / "shots.png")
    for name in ("topk", "quality", "gains", "shots"):
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 5_000


@pytest.mark.parametrize(
    "call, column",
    [
        (
            lambda: figures.plot_topk_gain(
                make_summary().drop(columns="best_gain"), "x.png", "single_domain"
            ),
            "best_gain",
        ),
        (lambda: figures.plot_topk_gain(make_summary(), "x.png", "single_domain", k=5), "top5_gain"),
        (
            lambda: figures.plot_finetune_gains(
                make_accuracies().drop(columns="accuracy"), BASELINE, "x.png"
            ),
            "accuracy",
        ),
        (
            lambda: figures.plot_method_quality(
                make_summary().drop(columns="trials_to_best"), "x.png", "single_domain"
            ),
            "trials_to_best",
        ),
        (
            lambda: figures.plot_method_quality(
                make_summary(), "x.png", "single_domain", stability=make_stability().drop(columns="draw")
            ),
            "draw",
        ),
        (
            lambda: figures.plot_accuracy_vs_shots(
                make_accuracies(), make_scores().drop(columns="score"), BASELINE, "lfc", "x.png"
            ),
            "score",
        ),
        (
            lambda: figure_data.runtime_table(make_summary().drop(columns="selection_seconds")),
            "selection_seconds",
        ),
    ],
)
def test_a_missing_column_is_named(tmp_path, monkeypatch, call, column):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=f"'{column}'"):
        call()
    assert not (tmp_path / "x.png").exists()


def test_bad_names_are_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="zoo 'nope'"):
        figures.plot_topk_gain(make_summary(), tmp_path / "x.png", "nope")
    with pytest.raises(ValueError, match="baseline expert 'nobody'"):
        figures.plot_finetune_gains(make_accuracies(), "nobody", tmp_path / "x.png")
    with pytest.raises(ValueError, match="e_z"):
        figures.plot_finetune_gains(
            make_accuracies(), BASELINE, tmp_path / "x.png", experts_order=["e_a", "e_z"]
        )
    with pytest.raises(ValueError, match="method 'lgc'"):
        figures.plot_accuracy_vs_shots(make_accuracies(), make_scores(), BASELINE, "lgc", tmp_path / "x.png")
    assert plt.get_fignums() == []

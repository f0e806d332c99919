"""Stability draws of the probe set and their summary (zooselect.stability, zooselect.selection)."""

import math

import numpy as np
import pandas as pd
import pytest

from zooselect.selection import score_zoo
from zooselect.stability import draw_rows, draw_seed, per_draw_summary, stability_table, subset_cache

POOL_LABELS = np.repeat([0, 1, 2], [10, 10, 4])


def test_a_few_shot_draw_takes_that_many_distinct_images_per_class():
    rows = draw_rows(POOL_LABELS, shots=5, seed=3)
    assert len(set(rows)) == len(rows)
    counts = np.bincount(POOL_LABELS[rows])
    assert list(counts) == [5, 5, 4]  # a class with fewer images in the pool gives all of them


def test_a_full_regime_draw_is_a_stratified_bootstrap():
    rows = draw_rows(POOL_LABELS, shots=0, seed=3)
    assert list(np.bincount(POOL_LABELS[rows])) == [10, 10, 4]
    assert len(set(rows)) < len(rows)  # with replacement: some images repeat


def test_draws_are_deterministic_and_differ_between_seeds():
    assert np.array_equal(draw_rows(POOL_LABELS, 5, 1), draw_rows(POOL_LABELS, 5, 1))
    assert not np.array_equal(draw_rows(POOL_LABELS, 5, 1), draw_rows(POOL_LABELS, 5, 2))
    assert draw_seed(0, "dots", "5shot", 0) != draw_seed(0, "dots", "5shot", 1)
    assert draw_seed(0, "dots", "5shot", 0) != draw_seed(0, "dots", "20shot", 0)


def test_bad_draws_are_refused():
    with pytest.raises(ValueError, match="no labelled images"):
        draw_rows(np.array([], dtype=int), 5, 0)
    with pytest.raises(ValueError, match="shots must be"):
        draw_rows(POOL_LABELS, -1, 0)


def test_subset_cache_indexes_per_image_arrays_only():
    cache = {
        "features": np.arange(12.0).reshape(6, 2),
        "labels": np.array([0, 0, 1, 1, 2, 2]),
        "indices": np.arange(100, 106),
        "probe_features": np.arange(6.0)[:, None],
        "source_means": np.ones((3, 2)),
        "expert": "a",
    }
    subset = subset_cache(cache, np.array([1, 1, 4]))
    assert subset["features"].tolist() == [[2, 3], [2, 3], [8, 9]]
    assert subset["labels"].tolist() == [0, 0, 2] and subset["indices"].tolist() == [101, 101, 104]
    assert subset["probe_features"].ravel().tolist() == [1, 1, 4]
    assert subset["source_means"] is cache["source_means"] and subset["expert"] == "a"


def test_score_zoo_combines_across_zoo_methods_within_each_zoo():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 10)
    caches = [{"expert": name, "features": rng.normal(size=(20, 4)), "labels": labels} for name in "abcd"]
    results = score_zoo(caches, ["lfc", "feature_metrics"], zoos={"one": ["a", "b"], "two": ["c", "d"]})
    assert [row["expert"] for row in results["lfc"]] == list("abcd")
    fm = {row["expert"]: row["score"] for row in results["feature_metrics"]}
    # z-scores over a zoo of two sum to zero within it
    assert fm["a"] + fm["b"] == pytest.approx(0) and fm["c"] + fm["d"] == pytest.approx(0)


ACCURACIES = pd.DataFrame(
    {
        "target": "t",
        "regime": "5shot",
        "expert": ["base", "x", "y", "z"],
        "accuracy": [0.5, 0.6, 0.7, 0.8],
        "seconds": 1.0,
    }
)


def _scores(draws):
    """Stability scores of one (target, regime): method -> per draw, the experts' scores."""
    rows = []
    for method, per_draw in draws.items():
        for seed, values in enumerate(per_draw):
            rows += [
                {"target": "t", "regime": "5shot", "draw": seed, "method": method, "expert": e, "score": v}
                for e, v in zip(["base", "x", "y", "z"], values)
            ]
    return pd.DataFrame(rows)


def test_spread_over_draws_of_a_perfect_and_a_reversed_ranking():
    scores = _scores(
        {
            "flip": [[0, 1, 2, 3], [3, 2, 1, 0]],  # perfect, then reversed
            "good": [[0, 1, 2, 3], [0, 1, 3, 2]],
        }
    )
    per_draw = per_draw_summary(scores, ACCURACIES, baseline="base")
    flip = per_draw[(per_draw.method == "flip") & (per_draw.target == "t")].set_index("draw")
    assert flip.spearman.tolist() == [1.0, -1.0]
    assert flip.trials_to_best.tolist() == [1, 4]
    table = stability_table(per_draw).set_index(["target", "method"])
    assert table.loc[("t", "flip"), "spearman_mean"] == pytest.approx(0.0)
    assert table.loc[("t", "flip"), "spearman_std"] == pytest.approx(math.sqrt(2))
    # top-3 gain: 0.8 - 0.5 when perfect; reversed, the top 3 are base, x, y: 0.7 - 0.5
    assert table.loc[("t", "flip"), "top3_gain_mean"] == pytest.approx((0.3 + 0.2) / 2)
    means = table.xs("mean", level="target")
    assert means.loc["good", "rank"] == 1 and means.loc["flip", "rank"] == 2
    # per draw: tied first in draw 0 (both perfect), second in draw 1
    assert means.loc["good", "rank_held"] == 1.0
    assert means.loc["flip", "rank_held"] == 0.5
    assert (means.loc["flip", "rank_best"], means.loc["flip", "rank_worst"]) == (1, 2)
    assert (table.draws == 2).all()

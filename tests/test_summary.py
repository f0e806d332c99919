"""The summary table, on a small results set worked out by hand."""

import pandas as pd
import pytest

from zooselect.summary import build_summary, expert_accuracies

FINETUNE = pd.DataFrame(
    {
        "target": ["t"] * 6,
        "regime": ["full"] * 6,
        "expert": ["base", "base", "a", "a", "b", "b"],
        "lr": [0.1, 0.05] * 3,
        "test_accuracy": [0.50, 0.60, 0.70, 0.65, 0.55, 0.40],
        "seconds": [1.0] * 6,
    }
)


def _extracted(experts, forward):
    """input_costs rows of target t, full regime: `forward` seconds of forward pass per expert, nothing else."""
    return pd.DataFrame(
        {
            "target": "t", "regime": "full", "expert": experts, "forward_seconds": forward,
            "gradient_seconds": 0.0, "source_means_seconds": 0.0,
            "cache_overhead_seconds": 0.0, "source_means_overhead_seconds": 0.0,
        }
    )


# Two made-up methods that read the experts' features, as LFC does.
FEATURE_METHODS = {"good": ("features", "labels"), "bad": ("features", "labels")}


def test_expert_accuracy_is_the_best_over_the_learning_rate_grid():
    acc = expert_accuracies(FINETUNE).set_index("expert")
    assert acc.accuracy.to_dict() == {"base": 0.60, "a": 0.70, "b": 0.55}
    assert acc.seconds.to_dict() == {"base": 2.0, "a": 2.0, "b": 2.0}


def test_summary_rows_and_means():
    scores = pd.DataFrame(
        {
            "target": ["t"] * 6,
            "regime": ["full"] * 6,
            "method": ["good"] * 3 + ["bad"] * 3,
            "expert": ["base", "a", "b"] * 2,
            "score": [2.0, 3.0, 1.0, 2.0, 1.0, 3.0],
            "seconds": [0.1] * 6,
        }
    )
    caches = _extracted(["base", "a", "b"], 0.5)
    summary = build_summary(
        scores, expert_accuracies(FINETUNE), caches, baseline="base", method_inputs=FEATURE_METHODS
    ).set_index(["target", "method"])
    good, bad = summary.loc[("t", "good")], summary.loc[("t", "bad")]
    assert good.spearman == pytest.approx(1.0) and good.trials_to_best == 1
    assert good.top1_gain == pytest.approx(0.10) and good.best_gain == pytest.approx(0.10)
    assert bad.spearman == pytest.approx(-1.0) and bad.trials_to_best == 3
    assert bad.top1_gain == pytest.approx(-0.05)
    assert good.selection_seconds == pytest.approx(1.5 + 0.3) and good.brute_force_seconds == pytest.approx(6.0)
    assert good.topk_finetune_seconds == pytest.approx(6.0)  # 3 experts: the top 3 is the whole zoo
    assert good.regret_at_3 == pytest.approx(0.0) and bad.pearson < 0 < good.kendall
    assert summary.loc[("mean", "good")].spearman == pytest.approx(1.0)


def test_random_row_is_the_expectation_not_the_seeded_draw():
    from zooselect.evaluation import expected_random_selection, summarize_selection

    experts = ["base", "a", "b", "c", "d"]
    accuracy = {"base": 0.60, "a": 0.70, "b": 0.55, "c": 0.70, "d": 0.50}  # a and c tie at the best
    finetune = pd.DataFrame(
        {
            "target": "t", "regime": "full", "expert": experts, "lr": 0.1,
            "test_accuracy": [accuracy[e] for e in experts],
            "seconds": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    draw = {"base": 0.2, "a": 0.9, "b": 0.4, "c": 0.1, "d": 0.3}  # the random method's score CSV
    scores = pd.DataFrame(
        {
            "target": "t", "regime": "full", "method": "random", "expert": experts,
            "score": [draw[e] for e in experts], "seconds": 0.01,
        }
    )
    caches = _extracted(experts, 0.5)
    summary = build_summary(scores, expert_accuracies(finetune), caches, baseline="base").set_index(["target", "method"])
    row = summary.loc[("t", "random")]
    # Worked by hand: n = 5, baseline 0.60; sorted 0.50, 0.55, 0.60, 0.70, 0.70;
    # E[max of a random 3-subset] = (1 * 0.60 + 3 * 0.70 + 6 * 0.70) / 10 = 0.69.
    assert row.spearman == row.pearson == row.kendall == 0.0
    assert row.top1_gain == pytest.approx(0.61 - 0.60)
    assert row.top3_gain == pytest.approx(0.69 - 0.60) and row.regret_at_3 == pytest.approx(0.70 - 0.69)
    assert row.best_gain == pytest.approx(0.10)
    assert row.trials_to_best == pytest.approx(6 / 3)  # (n + 1)/(m + 1), m = 2 tied at the best
    # The random method's own time: it reads no cache, so no forward pass is charged to it.
    assert row.selection_seconds == pytest.approx(5 * 0.01) and row.forward_seconds == 0.0
    assert row.brute_force_seconds == pytest.approx(15.0)
    assert row.topk_finetune_seconds == pytest.approx(3 / 5 * 15.0)
    accuracies = pd.Series(accuracy).loc[experts]
    expected = expected_random_selection(accuracies, 0.60, k=3, selection_seconds=0.05, brute_force_seconds=15.0)
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, abs=1e-12), key
    assert summary.loc[("mean", "random")].weighted_tau == pytest.approx(expected["weighted_tau"], abs=1e-12)
    # ... and not the metrics of the seeded draw itself (a, a best expert, is ranked first).
    drawn = summarize_selection(pd.Series(draw), accuracies, "base", 2.55, 15.0)
    assert drawn["trials_to_best"] == 1 and drawn["top1_gain"] == pytest.approx(0.10)
    assert row.trials_to_best != drawn["trials_to_best"] and row.spearman != drawn["spearman"]


def test_summary_records_its_ground_truth_and_a_published_table_has_no_fine_tuning_cost(tmp_path):
    from zooselect.ground_truth import ground_truth_label, published_accuracies

    scores = pd.DataFrame(
        {
            "target": "t", "regime": "full", "method": "good", "expert": ["base", "a", "b"],
            "score": [2.0, 3.0, 1.0], "seconds": 0.1,
        }
    )
    caches = _extracted(["base", "a", "b"], 0.5)
    measured = build_summary(scores, expert_accuracies(FINETUNE), caches, baseline="base", method_inputs=FEATURE_METHODS)
    assert list(measured.columns)[-1] == "ground_truth" and (measured.ground_truth == "finetune").all()

    path = tmp_path / "table.csv"
    path.write_text("target,expert,test_accuracy\nt,base,0.60\nt,a,0.70\nt,b,0.55\n")  # FINETUNE's best per expert
    label = ground_truth_label("published", path)
    published = build_summary(
        scores, published_accuracies(path, ["base", "a", "b"], ["t"]), caches, baseline="base", ground_truth=label,
        method_inputs=FEATURE_METHODS,
    )
    assert (published.ground_truth == "published:table.csv").all()
    same = ["spearman", "weighted_tau", "top1_gain", "top3_gain", "trials_to_best", "selection_seconds"]
    assert published[same].equals(measured[same])  # the same accuracies judge the same way
    # Fine-tuning was not run here: its seconds are unknown, not zero.
    assert published.brute_force_seconds.isna().all() and published.topk_finetune_seconds.isna().all()
    assert published.selection_topk_share.isna().all()  # no share of an unknown brute-force cost

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
    caches = pd.DataFrame({"target": ["t"] * 3, "regime": ["full"] * 3, "expert": ["base", "a", "b"], "seconds": [0.5] * 3})
    summary = build_summary(scores, expert_accuracies(FINETUNE), caches, baseline="base").set_index(["target", "method"])
    good, bad = summary.loc[("t", "good")], summary.loc[("t", "bad")]
    assert good.spearman == pytest.approx(1.0) and good.trials_to_best == 1
    assert good.top1_gain == pytest.approx(0.10) and good.best_gain == pytest.approx(0.10)
    assert bad.spearman == pytest.approx(-1.0) and bad.trials_to_best == 3
    assert bad.top1_gain == pytest.approx(-0.05)
    assert good.selection_seconds == pytest.approx(1.5 + 0.3) and good.brute_force_seconds == pytest.approx(6.0)
    assert good.topk_finetune_seconds == pytest.approx(6.0)  # 3 experts: the top 3 is the whole zoo
    assert good.regret_at_3 == pytest.approx(0.0) and bad.pearson < 0 < good.kendall
    assert summary.loc[("mean", "good")].spearman == pytest.approx(1.0)

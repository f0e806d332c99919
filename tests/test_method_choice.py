"""Leave-one-target-out choice of a method, on summaries whose folds are worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from zooselect.method_choice import ALL_REGIMES, leave_one_target_out, per_target, recommend


def _summary(table: dict[str, dict[str, float]], regime: str = "full", zoo: str = "single_domain"):
    """Summary rows from {method: {target: spearman}}; top3_gain = spearman / 10; plus mean rows."""
    rows = [
        {"zoo": zoo, "target": t, "regime": regime, "method": m, "spearman": r, "top3_gain": r / 10}
        for m, by_target in table.items()
        for t, r in by_target.items()
    ]
    rows += [
        {"zoo": zoo, "target": "mean", "regime": regime, "method": m, "spearman": 9.0, "top3_gain": 9.0}
        for m in table
    ]
    return pd.DataFrame(rows)


# a is best on average but fails target t3; b is positive everywhere; random is never a candidate.
TABLE = {
    "a": {"t1": 0.9, "t2": 0.8, "t3": -0.2, "t4": 0.9},
    "b": {"t1": 0.5, "t2": 0.6, "t3": 0.7, "t4": 0.5},
    "random": {"t1": 1.0, "t2": 1.0, "t3": 1.0, "t4": 1.0},
}


def test_each_fold_chooses_by_the_other_targets_and_judges_on_the_held_out_one():
    folds, _ = leave_one_target_out(_summary(TABLE))
    full = folds[folds.regime == "full"].set_index("held_out")
    # Held out t1: a's mean on t2-t4 is 0.5, b's 0.6 -> b, judged on t1 at 0.5.
    # t2: a (0.9 - 0.2 + 0.9)/3 = 0.533, b 0.567 -> b.  t3: a 0.867, b 0.533 -> a (-0.2 on t3).
    # t4: a 0.5, b 0.6 -> b.
    assert full["chosen"].to_dict() == {"t1": "b", "t2": "b", "t3": "a", "t4": "b"}
    assert full.loc["t3", "held_out_spearman"] == pytest.approx(-0.2)
    assert full.loc["t3", "held_out_top3_gain"] == pytest.approx(-0.02)
    assert full.loc["t2", "chosen_train_spearman"] == pytest.approx(1.7 / 3)
    assert full.loc["t3", "best_on_target"] == "b" and full.loc["t1", "best_on_target"] == "a"
    assert "random" not in set(full["chosen"]) | set(full["best_on_target"])


def test_method_rows_count_wins_and_spread_over_targets():
    _, methods = leave_one_target_out(_summary(TABLE))
    rows = methods[methods.regime == "full"].set_index("method")
    assert rows.loc["b", "wins"] == 3 and rows.loc["a", "wins"] == 1
    assert rows.loc["a", "spearman_mean"] == pytest.approx(0.6)
    assert rows.loc["a", "spearman_std"] == pytest.approx(np.std([0.9, 0.8, -0.2, 0.9]))
    assert rows.loc["a", "worst_target"] == "t3" and rows.loc["a", "worst_spearman"] == pytest.approx(-0.2)
    assert rows.loc["b", "robust"] and not rows.loc["a", "robust"]
    assert list(rows.index) == ["a", "b"]  # sorted by mean Spearman, best first


def test_pooled_regime_counts_each_target_once_at_its_mean_over_regimes():
    summary = pd.concat(
        [_summary({"a": {"t1": 0.2, "t2": 0.4}}, "full"), _summary({"a": {"t1": 0.6, "t2": np.nan}}, "5shot")]
    )
    pooled = per_target(summary).query("regime == @ALL_REGIMES").set_index("target")
    assert pooled.loc["t1", "spearman"] == pytest.approx(0.4)
    assert pooled.loc["t2", "spearman"] == pytest.approx(0.4)  # NaN (every accuracy equal) left out


def test_a_robust_majority_winner_is_recommended_alone():
    folds, methods = leave_one_target_out(_summary(TABLE, regime="full"))
    choice = recommend(folds, methods, "single_domain", "full")
    assert (choice.method, choice.members, choice.folds) == ("b", ("b",), 4)
    assert "3 of 4 folds" in choice.reason


def test_without_a_robust_majority_winner_mean_rank_over_the_robust_methods_is_recommended():
    table = {
        "a": {"t1": 0.9, "t2": 0.9, "t3": -0.1, "t4": 0.9},
        "b": {"t1": 0.6, "t2": 0.1, "t3": 0.3, "t4": 0.4},
        "c": {"t1": 0.2, "t2": 0.5, "t3": 0.4, "t4": 0.3},
    }
    folds, methods = leave_one_target_out(_summary(table))
    assert folds[folds.regime == "full"]["chosen"].tolist() == ["a", "a", "a", "a"]
    choice = recommend(folds, methods, "single_domain", "full")
    assert choice.method == "mean_rank" and choice.members == ("b", "c")


def test_with_no_robust_method_mean_rank_over_the_three_best_is_recommended():
    table = {m: {"t1": v, "t2": -0.1, "t3": v} for m, v in zip("abcd", (0.9, 0.8, 0.7, 0.1))}
    folds, methods = leave_one_target_out(_summary(table))
    choice = recommend(folds, methods, "single_domain", "full")
    assert choice.method == "mean_rank" and choice.members == ("a", "b", "c")


def test_a_target_with_every_correlation_undefined_is_not_a_fold():
    table = {"a": {"t1": 0.5, "t2": np.nan, "t3": 0.2}, "b": {"t1": 0.1, "t2": np.nan, "t3": 0.4}}
    folds, _ = leave_one_target_out(_summary(table))
    assert sorted(folds[folds.regime == "full"]["held_out"]) == ["t1", "t3"]


def test_recommend_names_the_zoo_and_regime_it_has_no_folds_for():
    folds, methods = leave_one_target_out(_summary(TABLE))
    with pytest.raises(ValueError, match="zoo 'multi_domain', regime 'all'"):
        recommend(folds, methods, "multi_domain")


def test_the_workflow_rule_writes_the_tables_the_figure_and_the_recommendation(tmp_path):
    """The real rule and script under the real snakemake, on a 3-target config whose summary
    the test writes (only method_choice is allowed to run)."""
    import copy
    import json

    from _tiny import TINY, run_snakemake, write_config

    config = copy.deepcopy(TINY)
    config["targets"] = {name: {"kind": "dots", "options": {"train": 100, "test": 100}} for name in ("t1", "t2", "t4")}
    write_config(tmp_path, config)
    table = {m: {t: v for t, v in by_target.items() if t != "t3"} for m, by_target in TABLE.items()}
    (tmp_path / "results").mkdir()
    _summary(table).to_csv(tmp_path / "results" / "summary.csv", index=False)
    result = run_snakemake(tmp_path, "results/tables/method_choice.csv", "--allowed-rules", "method_choice")
    assert result.returncode == 0, result.stderr[-3000:]
    methods = pd.read_csv(tmp_path / "results" / "tables" / "method_choice.csv")
    assert set(methods["regime"]) == {"full", ALL_REGIMES} and set(methods["method"]) == {"a", "b"}
    recommendation = json.loads((tmp_path / "results" / "method_recommendation.json").read_text())
    # Held out t1: a 0.85 vs b 0.55 on t2, t4 -> a; t2: a 0.9 -> a; t4: a 0.85 -> a. a is positive everywhere.
    assert recommendation["method"] == "a" and recommendation["zoo"] == "single_domain"
    assert (tmp_path / "results" / "figures" / "method_choice.png").stat().st_size > 0

"""Costs from benchmark records."""

import pytest

from zooselect.costs import apportion, job_seconds


def test_job_seconds_reads_the_wall_time_of_a_benchmark_record(tmp_path):
    path = tmp_path / "job.tsv"
    path.write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t300\n")
    assert job_seconds(path) == 12.5
    (tmp_path / "bad.tsv").write_text("x\ty\n1\t2\n")
    with pytest.raises(ValueError, match="not a Snakemake benchmark record"):
        job_seconds(tmp_path / "bad.tsv")


def test_a_job_wall_time_is_shared_in_proportion_and_adds_up():
    shares = apportion(10.0, {"a": 1.0, "b": 3.0})
    assert shares == {"a": 2.5, "b": 7.5}
    assert apportion(6.0, {"a": 0.0, "b": 0.0, "c": 0.0}) == {"a": 2.0, "b": 2.0, "c": 2.0}
    with pytest.raises(ValueError):
        apportion(1.0, {})


def _record(path, seconds):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\n{seconds}\t0\n")
    return path


def test_records_of_expert_jobs_and_of_task_jobs_charge_their_tasks(tmp_path):
    import pandas as pd

    from zooselect.costs import charge_job_records

    tasks = pd.DataFrame(
        {
            "target": ["a", "a", "b", "b"],
            "regime": ["full", "5shot", "full", "5shot"],
            "expert": ["x", "x", "x", "y"],
            "seconds": [1.0, 1.0, 2.0, 5.0],
        }
    )
    bench = tmp_path / "results" / "benchmarks" / "cache"
    per_expert = [_record(bench / "x.tsv", 8.0), _record(bench / "y.tsv", 3.0)]
    charged = charge_job_records(tasks, per_expert)
    assert list(charged.seconds) == [2.0, 2.0, 4.0, 3.0]  # x's 8 s shared 1:1:2
    per_task = [
        _record(bench / t / r / f"{e}.tsv", s)
        for t, r, e, s in [("a", "full", "x", 1.5), ("a", "5shot", "x", 2.5), ("b", "full", "x", 3.5), ("b", "5shot", "y", 4.5)]
    ]
    assert list(charge_job_records(tasks, per_task).seconds) == [1.5, 2.5, 3.5, 4.5]
    with pytest.raises(ValueError, match="no benchmark record"):
        charge_job_records(tasks, per_expert[:1])


def test_a_scoring_job_per_target_and_regime_charges_all_its_methods(tmp_path):
    import pandas as pd

    from zooselect.costs import charge_job_records

    scores = pd.DataFrame(
        {"target": ["a"] * 3, "regime": ["full"] * 3, "method": ["lfc", "lfc", "leep"], "seconds": [1.0, 1.0, 2.0]}
    )
    record = _record(tmp_path / "benchmarks" / "scores" / "a" / "full.tsv", 8.0)
    assert list(charge_job_records(scores, [record], "method").seconds) == [2.0, 2.0, 4.0]


# ---- each method charged for what it uses ------------------------------------
#
# A worked example (jobs.granularity: expert): experts base and a, target t,
# regimes full and 5shot. The seconds each output recorded, and each job's
# benchmark wall time (the rest of which is its overhead):
#
#   cache job of base: full 2 forward + 6 gradients, 5shot 1 + 3, source means 4;
#                      work 16, wall 20: overhead 4 = full 2, 5shot 1, means 1
#   cache job of a:    full 4 + 8, 5shot 2 + 2, source means 6;
#                      work 22, wall 33: overhead 11 = full 6, 5shot 2, means 3
#   probe t/full:      train 5, features 1; work 6, wall 9: overhead 3
#   probe t/5shot:     train 2, features 0.5, stability pool 1.5; work 4, wall 5: overhead 1
#   scoring job t/full: per expert lfc 0.5, lgc 0.5, rsa 1, domain_similarity 1,
#                      random 0.25, source_accuracy 0.25; work 7, wall 21:
#                      overhead 14, twice each row's seconds
#
# Source means serve both regimes: each task is charged half (base 2, a 3) and
# half their overhead share (base 0.5, a 1.5).

CACHES = {  # (regime, expert) -> (forward, gradients)
    ("full", "base"): (2.0, 6.0),
    ("5shot", "base"): (1.0, 3.0),
    ("full", "a"): (4.0, 8.0),
    ("5shot", "a"): (2.0, 2.0),
}
SCORING = {"lfc": 0.5, "lgc": 0.5, "rsa": 1.0, "domain_similarity": 1.0, "random": 0.25, "source_accuracy": 0.25}
# method -> (forward, gradients, probe, source means, scoring, overhead) in the full regime, by hand
BY_HAND = {
    "lfc": (6.0, 0.0, 0.0, 0.0, 1.0, 2.0 + 8.0),  # overhead: scoring 2, caches 2 + 6
    "lgc": (6.0, 14.0, 0.0, 0.0, 1.0, 2.0 + 8.0),
    "rsa": (6.0, 0.0, 6.0, 0.0, 2.0, 4.0 + 8.0 + 3.0),  # + the probe's 3
    "domain_similarity": (6.0, 0.0, 0.0, 5.0, 2.0, 4.0 + 8.0 + 2.0),  # + source means 0.5 + 1.5
    "random": (0.0, 0.0, 0.0, 0.0, 0.5, 1.0),  # reads no cache: its scoring only
    "source_accuracy": (0.0, 0.0, 0.0, 0.0, 0.5, 1.0 + 8.0),  # an attribute of the cache job
}


def _outputs(tmp_path):
    """The worked example's cache, source-means and probe files and benchmark records."""
    from zooselect.cache import write_arrays

    results = tmp_path / "results"
    one = {"x": [0.0]}
    caches = []
    for (regime, expert), (forward, gradients) in CACHES.items():
        path = results / "cache" / "t" / regime / f"{expert}.h5"
        attrs = {"target": "t", "regime": regime, "expert": expert, "forward_seconds": forward,
                 "gradient_seconds": gradients, "seconds": forward + gradients}
        write_arrays(path, one, attrs)
        caches.append(path)
    means = []
    for expert, seconds in [("base", 4.0), ("a", 6.0)]:
        means.append(results / "source_means" / f"{expert}.h5")
        write_arrays(means[-1], one, {"expert": expert, "images_per_class": 5, "seconds": seconds})
    probes = []
    for regime, (train, features, pool) in {"full": (5.0, 1.0, 0.0), "5shot": (2.0, 0.5, 1.5)}.items():
        probes.append(results / "probes" / "t" / f"{regime}.h5")
        write_arrays(probes[-1], one, {"target": "t", "regime": regime, "train_seconds": train,
                                       "feature_seconds": features, "pool_feature_seconds": pool,
                                       "seconds": train + features + pool})
    bench = results / "benchmarks"
    return {
        "caches": caches,
        "source_means": means,
        "probes": probes,
        "cache_records": [_record(bench / "cache" / "base.tsv", 20.0), _record(bench / "cache" / "a.tsv", 33.0)],
        "probe_records": [_record(bench / "probes" / "t" / "full.tsv", 9.0),
                          _record(bench / "probes" / "t" / "5shot.tsv", 5.0)],
        "score_records": [_record(bench / "scores" / "t" / "full.tsv", 21.0)],
    }


def test_each_method_is_charged_what_it_consumes_and_the_job_start_beside_it(tmp_path):
    import pandas as pd

    from zooselect import costs
    from zooselect.summary import build_summary

    files = _outputs(tmp_path)
    extracted = costs.input_costs(
        costs.read_cache_work(files["caches"]),
        files["cache_records"],
        costs.read_source_means_work(files["source_means"]),
    ).set_index(["regime", "expert"])
    columns = ["forward_seconds", "gradient_seconds", "source_means_seconds",
               "cache_overhead_seconds", "source_means_overhead_seconds"]
    assert extracted.loc[("full", "base"), columns].tolist() == [2.0, 6.0, 2.0, 2.0, 0.5]
    assert extracted.loc[("5shot", "a"), columns].tolist() == [2.0, 2.0, 3.0, 2.0, 1.5]
    probes = costs.probe_costs(costs.read_probe_work(files["probes"]), files["probe_records"]).set_index("regime")
    assert probes.loc["full", ["probe_seconds", "probe_overhead_seconds"]].tolist() == [6.0, 3.0]
    assert probes.loc["5shot", ["probe_seconds", "probe_overhead_seconds"]].tolist() == [2.5, 1.0]  # the pool's features are neither cost nor overhead

    scores = pd.DataFrame(
        [
            {"target": "t", "regime": "full", "method": method, "expert": expert, "score": score, "seconds": seconds}
            for method, seconds in SCORING.items()
            for expert, score in [("base", 1.0), ("a", 2.0)]
        ]
    )
    scores["overhead_seconds"] = costs.job_overheads(scores, files["score_records"], "method")
    assert scores.overhead_seconds.tolist() == [2 * s for s in scores.seconds]
    accuracies = pd.DataFrame(
        {"target": "t", "regime": "full", "expert": ["base", "a"], "accuracy": [0.5, 0.6], "seconds": [10.0, 30.0]}
    )
    summary = build_summary(
        scores, accuracies, extracted.reset_index(), "base", probe_costs=probes.reset_index()
    ).set_index(["target", "method"])
    for method, (forward, gradients, probe, means, scoring, overhead) in BY_HAND.items():
        row = summary.loc[("t", method)]
        assert row[list(costs.PARTS)].tolist() == [forward, gradients, probe, means, scoring], method
        assert row.selection_seconds == forward + gradients + probe + means + scoring, method
        assert row[costs.OVERHEAD] == overhead, method
        # A zoo of 2: the top 3 is the whole zoo, 40 s, as is brute force.
        assert row.selection_topk_share == (row.selection_seconds + 40.0) / 40.0, method
    assert summary.loc[("t", "lgc"), "selection_seconds"] / summary.loc[("t", "lfc"), "selection_seconds"] == 3.0


def test_task_jobs_charge_each_output_the_overhead_of_its_own_job(tmp_path):
    """jobs.granularity: task: one cache job per (target, regime, expert), and the source
    means a job of their own per expert, whose overhead is shared among the expert's tasks."""
    import pandas as pd

    from zooselect.costs import input_costs

    caches = pd.DataFrame(
        {"target": "t", "regime": ["full", "5shot"], "expert": "x", "forward_seconds": [1.0, 2.0],
         "gradient_seconds": [3.0, 0.0]}
    )
    bench = tmp_path / "benchmarks"
    records = [_record(bench / "cache" / "t" / "full" / "x.tsv", 7.0), _record(bench / "cache" / "t" / "5shot" / "x.tsv", 3.0)]
    means = pd.DataFrame({"expert": ["x"], "seconds": [8.0]})
    costs = input_costs(caches, records, means, [_record(bench / "source_means" / "x.tsv", 12.0)]).set_index("regime")
    assert costs.cache_overhead_seconds.tolist() == [3.0, 1.0]  # 7 - 4 and 3 - 2
    assert costs.source_means_seconds.tolist() == [4.0, 4.0]  # 8 shared by the two tasks
    assert costs.source_means_overhead_seconds.tolist() == [2.0, 2.0]  # (12 - 8) shared
    # Without source means (no method takes them), their part is unmeasured, not free.
    assert input_costs(caches, records).source_means_seconds.isna().all()


def test_the_registry_inputs_decide_the_parts_and_random_costs_its_scoring_only():
    from zooselect.costs import FORWARD, GRADIENTS, PROBE, SCORING, SOURCE_MEANS, method_parts
    from zooselect.scores import METHODS

    def parts(name):
        return method_parts(METHODS[name].inputs)

    assert parts("random") == (SCORING,) and METHODS["random"].inputs == ("expert",)
    assert parts("lfc") == parts("leep") == parts("feature_metrics") == (FORWARD, SCORING)
    assert parts("lgc") == (FORWARD, GRADIENTS, SCORING)  # the gradients need the forward pass's features
    assert parts("rsa") == (FORWARD, PROBE, SCORING)
    assert parts("domain_similarity") == (FORWARD, SOURCE_MEANS, SCORING)
    assert parts("source_accuracy") == parts("parameter_count") == (SCORING,)
    for method in METHODS.values():  # every registered method gets a charge from its inputs alone
        assert method_parts(method.inputs)[-1] == SCORING


def test_the_ratios_set_each_method_against_brute_force_lfc_and_the_paper():
    import math

    import pandas as pd

    from zooselect.costs import runtime_ratios

    runtime = pd.DataFrame(
        {
            "zoo": "single_domain", "regime": "full", "method": ["lfc", "lgc", "knn"],
            "brute_force_seconds": 200.0, "topk_finetune_seconds": 20.0,
            "selection_seconds": [2.0, 42.0, 1.0], "selection_share": [0.01, 0.21, 0.005],
            "selection_topk_share": [0.11, 0.31, 0.105],
        }
    )
    ratios = runtime_ratios(runtime).set_index("method")
    assert ratios.loc["lgc", "selection_vs_lfc"] == 21.0 and ratios.loc["lfc", "selection_vs_lfc"] == 1.0
    assert ratios.loc["lgc", "selection_share"] == 0.21
    assert round(ratios.loc["lfc", "paper_selection_share"], 4) == 0.0085  # 0.41 / 48.17
    assert round(ratios.loc["lgc", "paper_selection_vs_lfc"], 1) == 21.1  # 8.65 / 0.41
    assert round(ratios.loc["lfc", "paper_selection_topk_share"], 4) == round((5.15 + 0.41) / 48.17, 4)
    assert math.isnan(ratios.loc["knn", "paper_selection_share"])  # not in the paper

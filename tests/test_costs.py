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

"""The real snakemake on a tiny config: files made, and re-runs planned exactly.

One module-scoped run (a single-domain zoo of 3 experts and a multi-domain
zoo of 2 entries, 1 target, full and 5-shot, one job per expert) takes about
a minute on a 2-core machine; every test here reads what it made. Dry runs
check the other job granularity and the paper's configuration.
"""

import copy
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from _tiny import ROOT, TINY as TINY_BASE, job_stats, planned_jobs, run_snakemake, write_config

from zooselect.scores import METHODS

pytestmark = pytest.mark.workflow

# The shared tiny config, with two stability draws.
TINY = {**TINY_BASE, "stability": {"draws": 2}}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, *args)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny")
    write_config(workdir, TINY)
    result = snakemake(workdir)  # the default target: the summary and the zoo tables
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


# What re-runs downstream of any changed score or accuracy.
SUMMARY_AND_FIGURES = {"aggregate": 1, "stability_summary": 1, "figures": 1, "zoo_figures": 2}
EXPERTS = {"resnet-generic", "resnet-shapes-scratch", "resnet-shapes-generic", "shared-all", "multibn-shapes"}


def test_run_makes_every_stage_file(workdir):
    results = workdir / "results"
    assert (results / "data" / "dots" / "dataset.npz").exists()
    assert {p.stem for p in (results / "experts").glob("*.pt")} == EXPERTS
    caches = sorted((results / "cache").rglob("*.h5"))
    assert len(caches) == 2 * len(EXPERTS)  # 2 regimes x every zoo entry
    scores = pd.read_csv(results / "scores" / "dots" / "5shot" / "lfc.csv")
    assert list(scores.columns) == ["expert", "score", "seconds"] and set(scores.expert) == EXPERTS
    finetune = pd.read_csv(results / "finetune" / "dots" / "full" / "resnet-generic.csv")
    assert list(finetune.columns[:4]) == ["expert", "lr", "test_accuracy", "seconds"]


def test_summary_has_a_row_per_target_regime_method_and_mean_rows(workdir):
    summary = pd.read_csv(workdir / "results" / "summary.csv")
    columns = ["zoo", "target", "regime", "method", "spearman", "pearson", "kendall", "weighted_tau",
               "top1_gain", "top3_gain", "best_gain", "regret_at_3", "trials_to_best", "selection_seconds",
               "topk_finetune_seconds", "brute_force_seconds", "selection_topk_share", "forward_seconds",
               "gradient_seconds", "probe_seconds", "source_means_seconds", "scoring_seconds",
               "selection_overhead_seconds", "ground_truth"]
    assert list(summary.columns) == columns
    assert (summary.ground_truth == "finetune").all()
    per_target = summary[summary.target != "mean"]
    assert len(per_target) == 2 * 1 * 2 * len(METHODS)  # zoos x targets x regimes x methods
    assert set(summary.zoo) == {"single_domain", "multi_domain"}
    assert len(summary[summary.target == "mean"]) == 2 * 2 * len(METHODS)
    assert (summary.brute_force_seconds > 0).all() and (summary.selection_seconds > 0).all()
    # Each method is charged what it reads (zooselect.costs), the job start beside it.
    parts = ["forward_seconds", "gradient_seconds", "probe_seconds", "source_means_seconds", "scoring_seconds"]
    def close(a, b):  # the CSV keeps about 6 significant digits
        return ((a - b).abs() <= 1e-5 * b.abs() + 1e-6).all()

    assert close(summary[parts].sum(axis=1), summary.selection_seconds)
    assert (summary.selection_overhead_seconds > 0).all()
    by_method = per_target.groupby("method")[parts].sum()
    assert (by_method.loc["random", parts[:-1]] == 0).all()  # random reads no cache: its scoring only
    assert (by_method.loc["lgc", ["forward_seconds", "gradient_seconds"]] > 0).all()
    assert by_method.loc["lfc", "gradient_seconds"] == 0 and by_method.loc["rsa", "probe_seconds"] > 0
    assert by_method.loc["domain_similarity", "source_means_seconds"] > 0
    share = (per_target.selection_seconds + per_target.topk_finetune_seconds) / per_target.brute_force_seconds
    assert close(share, per_target.selection_topk_share)
    assert (summary.best_gain >= summary.top1_gain - 1e-12).all()


def test_a_second_run_plans_nothing(workdir):
    assert planned_jobs(workdir) == {}


def test_changing_the_learning_rate_grid_plans_only_finetune_and_aggregate(workdir):
    config = copy.deepcopy(TINY)
    config["finetune"]["lrs"] = [0.05, 0.1]
    write_config(workdir, config)
    try:
        # one fine-tuning job per expert, each doing both regimes
        assert planned_jobs(workdir) == {"finetune_expert": len(EXPERTS), **SUMMARY_AND_FIGURES}
    finally:
        write_config(workdir, TINY)


def test_changing_method_options_plans_only_their_scores_and_aggregate(workdir):
    config = copy.deepcopy(TINY)
    config["methods"]["random"] = {"seed": 7}
    config["methods"]["domain_similarity"] = {"gamma": 0.5}
    write_config(workdir, config)
    try:
        # one scoring job per (target, regime) does every method, and one its stability draws
        assert planned_jobs(workdir) == {"score_experts": 2, "score_stability": 2, **SUMMARY_AND_FIGURES}
    finally:
        write_config(workdir, TINY)


def test_changing_k_plans_only_caches_probes_scores_and_aggregate(workdir):
    config = copy.deepcopy(TINY)
    config["selection"]["images_per_class"] = 5
    write_config(workdir, config)
    try:
        planned = planned_jobs(workdir)
    finally:
        write_config(workdir, TINY)
    assert set(planned) == {"extract_cache", "train_probe", "score_experts", "score_stability", *SUMMARY_AND_FIGURES}


def test_changing_the_number_of_stability_draws_plans_only_stability(workdir):
    config = copy.deepcopy(TINY)
    config["stability"]["draws"] = 3
    write_config(workdir, config)
    try:
        planned = planned_jobs(workdir)
    finally:
        write_config(workdir, TINY)
    assert planned == {"score_stability": 2, "stability_summary": 1, "zoo_figures": 2}


def test_stability_reports_spread_and_rank_consistency_over_draws(workdir):
    results = workdir / "results"
    draws = pd.read_csv(results / "stability" / "dots" / "5shot.csv")
    assert list(draws.columns) == ["draw", "method", "expert", "score", "seconds"]
    assert sorted(draws["draw"].unique()) == [0, 1] and set(draws.expert) == EXPERTS
    assert set(draws.method) == set(METHODS)
    per_draw = pd.read_csv(results / "stability_draws.csv")
    assert list(per_draw.columns) == ["draw", "zoo", "target", "regime", "method", "spearman", "top3_gain",
                                      "trials_to_best"]
    table = pd.read_csv(results / "stability.csv")
    assert (table.draws == 2).all()
    means = table[table.target == "mean"]
    assert len(means) == 2 * 2 * len(METHODS)  # zoos x regimes x methods
    ranked = means.dropna(subset=["rank"])  # a method without a defined Spearman has no rank
    assert len(ranked) > len(means) / 2
    assert ranked.rank_held.between(0, 1).all() and (ranked.rank_best <= ranked.rank_worst).all()
    # Random is its expectation in every draw: no spread.
    assert (table[table.method == "random"].top3_gain_std.fillna(0) == 0).all()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.update(colour="red"), "Additional properties are not allowed"),
        (lambda c: c["finetune"].update(batch_size="big"), "'big' is not of type 'integer'"),
        (lambda c: c["sources"]["shapes"].update(kind="imagenet"), "unknown dataset kind 'imagenet'; valid kinds"),
        (lambda c: c["methods"].update(magic={}), "unknown method 'magic'; valid methods"),
    ],
)
def test_bad_config_stops_at_start_up_with_a_clear_message(tmp_path, edit, message):
    config = copy.deepcopy(TINY)
    edit(config)
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_zoo_tables_compare_initialisations_and_variants(workdir):
    source = pd.read_csv(workdir / "results" / "tables" / "source_accuracy.csv")
    assert list(source.columns) == ["source", "resnet_scratch", "resnet_generic"]
    assert list(source.source) == ["shapes", "all (generic expert)"]
    assert source.loc[0, ["resnet_scratch", "resnet_generic"]].between(0, 1).all()
    multi = pd.read_csv(workdir / "results" / "tables" / "multidomain_accuracy.csv")
    assert list(multi.columns) == ["domain", "single_domain", "shared", "multibn"]
    assert multi.loc[0, ["single_domain", "shared", "multibn"]].between(0, 1).all()


def test_figures_runtime_table_and_report(workdir):
    figures = workdir / "results" / "figures"
    pngs = sorted(p.relative_to(figures).as_posix() for p in figures.rglob("*.png"))
    assert pngs == [
        "accuracy_vs_shots.png", "finetune_gains.png",
        "multi_domain/method_quality.png", "multi_domain/topk_gain.png",
        "single_domain/method_quality.png", "single_domain/topk_gain.png",
    ]
    for png in figures.rglob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runtime = pd.read_csv(workdir / "results" / "tables" / "runtime.csv")
    assert list(runtime.columns) == [
        "zoo", "regime", "method", "brute_force_seconds", "topk_finetune_seconds", "selection_seconds",
        "forward_seconds", "gradient_seconds", "probe_seconds", "source_means_seconds", "scoring_seconds",
        "selection_overhead_seconds", "selection_share", "selection_topk_share",
    ]
    assert (runtime.topk_finetune_seconds <= runtime.brute_force_seconds + 1e-9).all()
    ratios = pd.read_csv(workdir / "results" / "tables" / "runtime_ratios.csv")
    assert list(ratios.columns[:3]) == ["zoo", "regime", "method"] and len(ratios) == len(runtime)
    lfc = ratios[(ratios.method == "lfc")]
    assert (lfc.selection_vs_lfc == 1.0).all() and (lfc[lfc.regime == "full"].paper_selection_share > 0).all()
    result = snakemake(workdir, "--report", "results/report.html")
    assert result.returncode == 0, result.stderr[-4000:]
    report = (workdir / "results" / "report.html").read_text(errors="replace")
    assert "topk_gain.png" in report and "Top-3 selection gain" in report


def test_a_published_ground_truth_plans_no_fine_tuning(tmp_path):
    config = copy.deepcopy(TINY)
    config["regimes"] = ["full"]
    table = tmp_path / "published.csv"
    table.write_text("target,expert,test_accuracy\n" + "".join(f"dots,{e},0.5\n" for e in sorted(EXPERTS)))
    config["finetune"].update(ground_truth="published", published=str(table))
    write_config(tmp_path, config)
    planned = planned_jobs(tmp_path)
    assert "finetune_expert" not in planned
    assert planned["aggregate"] == planned["figures"] == planned["stability_summary"] == 1
    # A table that does not fit the zoo stops at start-up, naming the file and the line.
    table.write_text(table.read_text().replace("shared-all", "vgg16"))
    result = snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert f"{table}, line 6: unknown expert 'vgg16'" in result.stdout + result.stderr


def test_task_granularity_plans_one_job_per_target_regime_expert(tmp_path):
    config = copy.deepcopy(TINY)
    config["jobs"] = {"granularity": "task"}
    write_config(tmp_path, config)
    planned = planned_jobs(tmp_path)
    assert planned["extract_cache"] == planned["finetune_expert"] == 2 * len(EXPERTS)
    assert planned["score_experts"] == 2 * len(METHODS)
    assert planned["train_expert"] == 2 and planned["train_multidomain_expert"] == 1


def shipped_config_plan(workdir: Path, name: str) -> dict[str, int]:
    """The job stats (``all`` and ``total`` included) of a dry run of config/`name` in `workdir`."""
    result = snakemake(workdir, "-n", "--configfile", str(ROOT / "config" / name))
    assert result.returncode == 0, result.stderr[-4000:]
    return job_stats(result)


def test_paper_configuration_plans_the_paper_benchmark(tmp_path):
    """config/paper.yaml: 8 sources, 8 targets in 3 regimes and 3 few-shot-only
    targets in 2, two torchvision architectures x 7 sources x 2 initialisations
    (ImageNet is the generic expert's source), and a multi-domain zoo of
    1 + 8 + 8 entries: 2 + 28 + 17 = 47 experts, 8 x 3 + 3 x 2 = 30 tasks."""
    assert shipped_config_plan(tmp_path, "paper.yaml") == {
        "prepare_dataset": 19,
        "split_regime": 30,
        "train_generic_expert": 2,
        "train_expert": 28,
        "train_multidomain_expert": 2,
        "train_shared_expert": 1,
        "extract_source_means": 47,
        "extract_cache": 30 * 47,
        "finetune_expert": 30 * 47,
        "train_probe": 30,
        "score_experts": 30 * 22,  # one job per (task, method): 22 methods
        "score_stability": 8 * 3,
        "stability_summary": 1,
        "aggregate": 1,
        "zoo_tables": 1,
        "figures": 1,
        "zoo_figures": 2,
        "method_choice": 1,
        "all": 1,
        "total": 3645 + 8 * 3 + 1 + 1,
    }


def test_wide_embedded_configuration_plans_eleven_targets(tmp_path):
    """config/embedded_wide.yaml: the default's zoo (20 single-domain experts from 5 sources and
    2 generic ones) on 11 targets x 3 regimes, and the leave-one-target-out choice of a method."""
    planned = shipped_config_plan(tmp_path, "embedded_wide.yaml")
    assert planned["prepare_dataset"] == 5 + 11
    assert planned["split_regime"] == 11 * 3
    assert planned["train_expert"] == 20 and planned["train_generic_expert"] == 2
    assert planned["method_choice"] == 1
    assert planned["total"] == 247


def test_standard_configuration_plans_forward_passes_and_scores_only(tmp_path):
    """config/standard.yaml: 11 given torchvision experts x 11 targets, full regime only, judged
    against the published table: one cache job per (target, expert), one score job per (target,
    method) for 21 methods, no training, no fine-tuning, no zoo tables (nothing is trained), no
    stability draws; VOC 2007's single-label manifest is made by its own rule; the
    leave-one-target-out choice of a method."""
    (tmp_path / "data").symlink_to(ROOT / "data")  # finetune.published is relative to the working directory
    assert shipped_config_plan(tmp_path, "standard.yaml") == {
        "voc_single_label": 1,
        "prepare_dataset": 11,
        "split_regime": 11,
        "extract_cache": 11 * 11,
        "score_experts": 11 * 21,
        "aggregate": 1,
        "figures": 1,
        "zoo_figures": 1,  # the given zoo
        "method_choice": 1,  # leave-one-target-out over the 11 targets
        "all": 1,
        "total": 380,
    }

"""The tiny workflow on a real SLURM cluster, through profiles/slurm.

tests/slurm/start.sh installs Debian's SLURM and munge (as root) and starts
a private single-node cluster on 127.0.0.1 with two fake GPUs and
accounting; this module runs the tiny config (its single-domain zoo, full
regime: 12 SLURM jobs, since each costs two Snakemake start-ups inside
SLURM) through the shipped SLURM profile (with numbers that fit the one
node), checks from SLURM's own
records (sacct) that every job but the local data preparation went through
sbatch and that the GPU rules asked for a GPU, compares the summary with a
local run of the same config, and stops the daemons start.sh started.

Skips, saying why, where SLURM cannot be set up: not root, no apt-get,
packages not installable, or no SLURM executor plugin.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from _tiny import ROOT, TINY, run_snakemake, write_config

pytestmark = pytest.mark.slurm

HARNESS = ROOT / "tests" / "slurm"
# Every kind of job of the tiny config (training from scratch and from the
# generic expert, caches, fine-tuning, probe, scores, summary) once or a few times.
CONFIG = copy.deepcopy(TINY)
CONFIG["regimes"] = ["full"]
CONFIG["zoo"]["multidomain"]["variants"] = []
LOCAL_RULES = {"prepare_dataset", "split_regime"}
# The test cluster: one node, 2 CPUs, 2 fake GPUs, partition "debug", account "zooselect".
CLUSTER_ENV = {
    "ZOOSELECT_SLURM_ACCOUNT": "zooselect",
    "ZOOSELECT_SLURM_PARTITION": "debug",
    "ZOOSELECT_SLURM_GPU_PARTITION": "debug",
}


@pytest.fixture(scope="module")
def cluster():
    """SLURM's client environment (SLURM_CONF) while the test cluster runs."""
    if os.geteuid() != 0:
        pytest.skip("SLURM test needs root (it installs Debian's slurm and munge and runs slurmd)")
    if shutil.which("apt-get") is None:
        pytest.skip("SLURM test needs apt-get to install Debian's slurm and munge")
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="snakemake-executor-plugin-slurm not installed")
    started = subprocess.run(["bash", str(HARNESS / "start.sh")], capture_output=True, text=True, timeout=900)
    if started.returncode == 3:
        pytest.skip(started.stderr.strip().splitlines()[-1])
    assert started.returncode == 0, started.stderr[-4000:]
    conf = re.search(r"^export SLURM_CONF=(\S+)$", started.stdout, flags=re.MULTILINE).group(1)
    try:
        yield {**os.environ, "SLURM_CONF": conf}
    finally:
        stopped = subprocess.run(["bash", str(HARNESS / "stop.sh")], capture_output=True, text=True, timeout=300)
        assert stopped.returncode == 0, stopped.stderr[-2000:]


def test_profile(directory: Path) -> tuple[Path, set[str]]:
    """profiles/slurm with memory, time and CPUs scaled to the test node; and its GPU rules."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    profile.update({"jobs": 4, "latency-wait": 5, "retries": 0, "keep-going": False})
    profile["slurm-init-seconds-before-status-checks"] = 2
    profile["slurm-keep-successful-logs"] = True
    profile["default-resources"].update({"mem_mb": 1000, "runtime": 10})
    gpu_rules = set()
    for rule, resources in profile["set-resources"].items():
        resources.update({"mem_mb": 1000, "runtime": 10})
        if resources.get("gpu"):
            gpu_rules.add(rule)
            resources["cpus_per_gpu"] = 1
    (directory / "config.yaml").write_text(yaml.safe_dump(profile))
    return directory, gpu_rules


test_profile.__test__ = False  # a helper, not a test


def job_counts(output: str) -> dict[str, int]:
    """Rule -> jobs from the "Job stats" table a run prints first."""
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE)
    return {rule: int(n) for rule, n in rows if rule not in ("total", "all")}


def sacct_jobs(env: dict[str, str], run_id: str) -> list[dict[str, str]]:
    fields = ["JobID", "JobName", "State", "Comment", "SubmitLine", "ReqTRES", "AllocTRES"]
    result = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-S", "now-1days", "--name", run_id, "-o", ",".join(fields)],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [dict(zip(fields, line.split("|"))) for line in result.stdout.splitlines() if line]


def comparable(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary without its measured seconds and the shares made of them (wall times differ
    between any two runs)."""
    timed = [c for c in summary.columns if c.endswith(("_seconds", "_share"))]
    return summary.drop(columns=timed)


def test_tiny_workflow_runs_through_sbatch_and_matches_a_local_run(cluster, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "slurm"
    for directory in (local, remote, tmp_path / "profile"):
        directory.mkdir()
        write_config(directory, CONFIG)
    reference = run_snakemake(local, "results/summary.csv")
    assert reference.returncode == 0, reference.stderr[-4000:]
    planned = job_counts(reference.stdout + reference.stderr)

    profile, gpu_rules = test_profile(tmp_path / "profile")
    start = time.monotonic()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(ROOT / "Snakefile"),
         "--directory", str(remote), "--workflow-profile", str(profile), "results/summary.csv"],
        capture_output=True, text=True, env={**cluster, **CLUSTER_ENV}, timeout=900,
    )
    seconds = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    run_id = re.search(r"SLURM run ID: (\S+)", output).group(1)

    jobs = sacct_jobs(cluster, run_id)
    table: dict[str, dict[str, int]] = {}
    for job in jobs:
        assert job["State"] == "COMPLETED", job
        assert job["SubmitLine"].startswith("sbatch "), job
        rule = job["Comment"].removeprefix("rule_").split("_wildcards_", 1)[0]
        asked_gpu = "gres/gpu=1" in job["ReqTRES"]
        row = table.setdefault(rule, {"jobs": 0, "gpu": 0})
        row["jobs"] += 1
        row["gpu"] += asked_gpu
        assert asked_gpu == (rule in gpu_rules), f"{rule}: ReqTRES {job['ReqTRES']}"
    print(f"\nSLURM run {run_id}: {seconds:.0f} s, jobs (rule: sbatch jobs, with a GPU) {table}")
    # Every job but the local ones went through sbatch, once.
    assert {rule: row["jobs"] for rule, row in table.items()} == {
        rule: n for rule, n in planned.items() if rule not in LOCAL_RULES
    }
    assert {"train_generic_expert", "train_expert", "extract_cache", "finetune_expert"} <= gpu_rules & set(table)
    assert "score_experts" in table and "score_experts" not in gpu_rules

    pd.testing.assert_frame_equal(
        comparable(pd.read_csv(remote / "results" / "summary.csv")),
        comparable(pd.read_csv(local / "results" / "summary.csv")),
    )

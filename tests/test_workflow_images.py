"""The real snakemake and ``zooselect rank`` on image folders of 256-px JPEGs made here.

Not 32-px arrays: the datasets are manifests, the images stay on disk and
are decoded by DataLoader workers while the jobs run. One module-scoped run
of the tiny config (an ``imagefolder`` source and target); the tests read
what it made, then change the folders: an added image re-plans
``prepare_dataset`` and everything after it, and an image corrupted after
prepare stops the job that reads it, naming the file, and leaves no output
that looks finished.
"""

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _tiny import TINY, run_snakemake, write_config, write_image_folder
from zooselect.data import load_dataset
from zooselect.data.stream import FileSource

pytestmark = pytest.mark.workflow

def _write_folder(root: Path, classes: dict[str, int], seed: int, noise: float = 15) -> Path:
    """``classes`` -> image count; 256 x 256 JPEGs (``_tiny.write_image_folder``)."""
    return write_image_folder(root, classes, seed, side=256, noise=noise)


def _config(source: Path, target: Path) -> dict:
    config = copy.deepcopy(TINY)
    config["sources"] = {"pics": {"kind": "imagefolder", "options": {"root": str(source), "image_size": 32}}}
    config["targets"] = {"snaps": {"kind": "imagefolder", "options": {"root": str(target), "image_size": 32}}}
    config["regimes"] = ["full", "5shot"]
    return config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("images")
    source = _write_folder(base / "source", {"bars": 60, "dots": 60, "waves": 60}, seed=0)
    # noisy enough that the experts' fine-tuned accuracies differ (a ranking to judge)
    target = _write_folder(base / "target", {"calm": 50, "storm": 50}, seed=1, noise=250)
    workdir = base / "work"
    workdir.mkdir()
    write_config(workdir, _config(source, target))
    result = run_snakemake(workdir)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir, source, target


def test_the_workflow_runs_on_image_folders_without_holding_pixels(run):
    workdir, source, target = run
    results = workdir / "results"
    manifest = load_dataset(results / "data" / "snaps" / "dataset.npz")
    assert isinstance(manifest.train, FileSource) and manifest.classes == ["calm", "storm"]
    assert len(manifest.y_train) + len(manifest.y_test) == 100
    assert all(Path(p).is_relative_to(target) for p in manifest.train.paths)
    with np.load(results / "data" / "pics" / "dataset.npz") as npz:
        assert "x_train" not in npz.files  # a manifest: paths and labels, no pixels
    summary = pd.read_csv(results / "summary.csv")
    assert set(summary.target) == {"snaps", "mean"} and summary.spearman.notna().any()
    accuracy = pd.read_csv(results / "finetune" / "snaps" / "full" / "resnet-generic.csv").test_accuracy
    assert 0 <= accuracy.iloc[0] <= 1


def test_zooselect_rank_on_the_same_folder(run, tmp_path):
    workdir, _, target = run
    zoo = tmp_path / "zoo.yaml"
    zoo.write_text(
        "experts:\n"
        f"  ours: {{origin: checkpoint, path: {workdir / 'results' / 'experts' / 'resnet-generic.pt'}}}\n"
        "  tv_resnet18: {origin: torchvision, model: resnet18, weights: null}\n"
    )
    out = tmp_path / "out"
    command = [sys.executable, "-m", "zooselect.cli", "rank", "--target", str(target), "--zoo", str(zoo),
               "--out", str(out), "--methods", "lfc,logme", "--finetune-top", "1", "--finetune-epochs", "1",
               "--images-per-class", "10", "--workers", "1", "--quiet"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    ranking = pd.read_csv(out / "ranking.csv")
    assert set(ranking.expert) == {"ours", "tv_resnet18"} and ranking.lfc.notna().all()
    assert ranking.finetune_accuracy.notna().sum() == 1


def test_an_added_image_replans_prepare_and_everything_after_it(run):
    workdir, source, _ = run
    shutil.copy(source / "bars" / "000.jpg", source / "bars" / "added.jpg")
    try:
        result = run_snakemake(workdir, "-n")
        assert result.returncode == 0, result.stderr
        assert "rule prepare_dataset" in result.stdout and "wildcards: dataset=pics" in result.stdout
        assert "rule train_expert" in result.stdout and "rule aggregate" in result.stdout
    finally:
        (source / "bars" / "added.jpg").unlink()
    result = run_snakemake(workdir, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_an_image_corrupted_after_prepare_stops_the_job_naming_it(run):
    workdir, _, target = run
    manifest = load_dataset(workdir / "results" / "data" / "snaps" / "dataset.npz")
    victim = Path(manifest.train.paths[0])  # in the full regime's training set
    original = victim.read_bytes()
    output = workdir / "results" / "finetune" / "snaps" / "full" / "resnet-generic.csv"
    try:
        victim.write_bytes(original[: len(original) // 3])  # truncated: its size no longer matches
        result = run_snakemake(workdir, "--force", str(output.relative_to(workdir)))
        assert result.returncode != 0
        logs = "".join(p.read_text() for p in (workdir / "results" / "logs" / "finetune").glob("*.log"))
        assert str(victim) in logs and "changed since the dataset was prepared" in logs
        assert not output.exists()  # Snakemake removed the failed job's outputs: nothing looks finished
    finally:
        victim.write_bytes(original)

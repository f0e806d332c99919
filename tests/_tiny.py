"""The tiny workflow config and the helpers that run the real snakemake on it.

Shared by the tests that run the workflow end to end (faults, SLURM): a
single-domain zoo of 3 experts and a multi-domain zoo of 2 entries, one
source, one target in two regimes, one job per expert.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from zooselect.scores import METHODS

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"

TINY = {
    "seed": 0,
    "sources": {"shapes": {"kind": "shapes", "options": {"train": 300, "test": 100}}},
    "targets": {"dots": {"kind": "dots", "options": {"train": 100, "test": 100}}},
    "regimes": ["full", "5shot"],
    "zoo": {
        "architectures": {"resnet": {"width": 8}},
        "inits": ["scratch", "generic"],
        "generic": True,
        "baseline": "resnet-generic",
        "multidomain": {"variants": ["shared", "multibn"], "options": {"width": 8}, "images_per_domain": 64},
    },
    "training": {
        "expert": {"steps": 20, "batch_size": 32, "lr": 0.05},
        "generic": {"steps": 30, "batch_size": 32, "lr": 0.05},
        "from_generic": {"steps": 10, "batch_size": 32, "lr": 0.02},
        "multidomain": {"steps": 20, "batch_size": 32, "lr": 0.05},
    },
    "jobs": {"granularity": "expert"},
    "selection": {
        "images_per_class": 10,
        "source_images_per_class": 5,
        "gradient_dim": 16,
        "probe": {"options": {"width": 4}, "schedule": {"steps": 10, "batch_size": 32, "lr": 0.05}},
    },
    "methods": {name: {} for name in METHODS},
    "finetune": {"lrs": [0.05], "epochs": {"full": 1, "5shot": 2}, "batch_size": 32},
}


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config").mkdir(exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    return [str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), *args]


def run_snakemake(
    workdir: Path, *args: str, env: dict[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess:
    """The real snakemake on ``workdir`` (on 2 cores unless ``args`` say otherwise)."""
    if not any(arg.startswith(("--cores", "-c")) for arg in args):
        args = ("--cores", "2", *args)
    return subprocess.run(
        snakemake_command(workdir, *args),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        timeout=timeout,
    )


def write_image_folder(root: Path, classes: dict[str, int], seed: int, side: int = 256, noise: float = 15) -> Path:
    """An image folder: ``classes`` -> image count; each class has its own colour and stripe
    direction, ``side`` x ``side`` JPEGs, with Gaussian pixel ``noise`` (its standard deviation)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    for k, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        colour = np.array([60 + 60 * (k % 3), 200 - 50 * (k % 4), 90 + 40 * k % 160])
        for i in range(count):
            stripes = np.sin((xx if k % 2 else yy) * rng.uniform(0.05, 0.2) + rng.uniform(0, 6))
            pixels = colour + 50 * stripes[..., None] + rng.normal(0, noise, (side, side, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / name / f"{i:03d}.jpg", quality=85)
    return root


def job_stats(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> number of jobs in a dry run's "Job stats" table (``all`` and ``total`` included)."""
    table = (result.stdout + result.stderr).split("Job stats:", 1)[1]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE)}


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> number of jobs a dry run plans, ``all`` and ``total`` left out (empty when nothing is to be done)."""
    result = run_snakemake(workdir, "-n", *args)
    assert result.returncode == 0, result.stderr[-4000:] + result.stdout[-2000:]
    if "Nothing to be done" in result.stdout + result.stderr:
        return {}
    return {rule: n for rule, n in job_stats(result).items() if rule not in ("total", "all")}

"""The smaller faults of issue 16: a stale Snakemake lock, a misspelt zoo key, a thin selection
sample, and ``--quiet`` that was not quiet. Each runs the real thing (snakemake, the
``zooselect`` command in its own process) and checks the message a user sees."""

import os
import signal
import subprocess
import sys
import time

import pytest
from _rank_helpers import make_image_folder, write_local_zoo
from _tiny import ROOT, TINY, run_snakemake, snakemake_command, write_config

from zooselect.userzoo import ZooError, read_zoo


def test_a_misspelt_origin_key_in_a_zoo_file_is_named_with_the_valid_keys(tmp_path):
    zoo = tmp_path / "zoo.yaml"
    zoo.write_text("experts:\n  r18:\n    orign: torchvision\n    model: resnet18\n")
    with pytest.raises(ZooError) as error:
        read_zoo(zoo)
    assert str(error.value) == (
        f"zoo file {zoo}: expert 'r18' has no 'origin' key; unknown key 'orign' (did you mean origin?); "
        "valid keys: origin (torchvision, timm, checkpoint) and that origin's keys"
    )
    zoo.write_text("experts:\n  r18: {origin: torchvision, modle: resnet18}\n")
    with pytest.raises(ZooError, match=r"expert 'r18' \(torchvision\): unknown key\(s\) modle \(did you mean model\?\)"):
        read_zoo(zoo)


def test_rank_quiet_shows_no_bar_and_warns_of_a_one_image_per_class_sample(tmp_path):
    """2 images per class: 1 goes to test, so the methods see 1 training image per class."""
    folder = make_image_folder(tmp_path / "pairs", per_class=2)
    zoo = write_local_zoo(tmp_path / "zoo")
    command = [sys.executable, "-m", "zooselect.cli", "rank", "--target", str(folder), "--zoo", str(zoo),
               "--out", str(tmp_path / "out"), "--methods", "lfc", "--quiet"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "target pairs (full): the selection sample has only 1 training image of class" in done.stderr
    assert "(the fewest; 50 per class asked for)" in done.stderr
    # No bar at all: not the dataset's "checking images", nor rank's own.
    assert "checking images" not in done.stderr and "it/s" not in done.stderr and "%|" not in done.stderr


def test_a_killed_run_leaves_a_lock_that_the_readmes_unlock_clears(tmp_path):
    """The README's advice, followed: after a killed run Snakemake refuses with a LockException
    until ``snakemake --unlock``."""
    readme = (ROOT / "README.md").read_text()
    assert "--unlock" in readme and "LockException" in readme
    write_config(tmp_path, TINY)
    run = subprocess.Popen(snakemake_command(tmp_path, "--cores", "1"), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True, env=os.environ.copy())  # fmt: skip
    locks = tmp_path / ".snakemake" / "locks"
    deadline = time.monotonic() + 120
    while not (locks.is_dir() and any(locks.iterdir())) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.2)
    assert run.poll() is None, "the run ended before it could be killed"
    os.killpg(run.pid, signal.SIGKILL)  # as a closed terminal or an OOM kill would
    run.wait()
    stuck = run_snakemake(tmp_path, timeout=120)  # a real run (a dry run takes no lock)
    assert stuck.returncode != 0 and "LockException" in stuck.stdout + stuck.stderr
    assert run_snakemake(tmp_path, "--unlock").returncode == 0
    assert not locks.is_dir() or not any(locks.iterdir())
    resumed = run_snakemake(tmp_path, "--until", "split_regime", timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

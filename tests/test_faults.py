"""Faults: a killed job leaves nothing that looks finished, and a re-run finishes it from where it was.

The unit tests interrupt training in-process (an exception right after a
resume checkpoint is saved, as if the process died then) and check that the
resumed run ends with exactly the weights of an uninterrupted one. The
workflow test SIGKILLs a real training process under the real snakemake.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from _tiny import TINY, snakemake_command, write_config, run_snakemake
from zooselect.data import Dataset
from zooselect.io import write_rows
from zooselect.models import create_model, load_checkpoint, save_checkpoint
from zooselect.multidomain import train_multidomain
from zooselect.runtime import resume_file
from zooselect.data.stream import Images, PackedSource
from zooselect.training import Resume, Schedule, finetune, train


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks: a second thread only spins (and crawls when the machine is busy)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Killed(Exception):
    """Stands for the process dying right after a checkpoint was written."""


def _images(n, seed, size=16):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, 3)).astype(np.uint8)


def _set(n, seed, classes):
    return Images(PackedSource(_images(n, seed), np.arange(n, dtype=np.int64) % classes))


def _die_after_save(monkeypatch, at_step):
    original = Resume.save

    def save(self, state):
        original(self, state)
        if state["step"] == at_step:
            raise Killed

    monkeypatch.setattr(Resume, "save", save)


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# 13 steps of 8 from 36 images: batches straddle permutation boundaries, and
# the step decay (milestones at steps 6 and 10) is crossed after the resume.
SCHEDULE = Schedule(steps=13, batch_size=8, lr=0.05)


def _model():
    torch.manual_seed(3)
    return create_model("resnet", 3, width=4).to(memory_format=torch.channels_last)


def test_resumed_training_ends_with_the_weights_of_an_uninterrupted_run(tmp_path, monkeypatch):
    images = _set(36, 0, 3)
    reference = _model()
    expected = train(reference, images, SCHEDULE, seed=7)

    resume = Resume(tmp_path / "run.state", every=4, min_seconds=0)
    with monkeypatch.context() as patch:
        _die_after_save(patch, at_step=8)
        with pytest.raises(Killed):
            train(_model(), images, SCHEDULE, seed=7, resume=resume)
    assert resume.path.exists()

    resumed = _model()
    result = train(resumed, images, SCHEDULE, seed=7, resume=Resume(resume.path, every=4, min_seconds=0))
    assert _same_state(resumed, reference)  # weights, batch-norm statistics, bit for bit
    assert result.losses == expected.losses and result.final_loss == expected.final_loss


def test_a_resume_state_of_another_run_is_not_used(tmp_path, monkeypatch):
    images = _set(36, 0, 3)
    resume = Resume(tmp_path / "run.state", every=4, min_seconds=0)
    with monkeypatch.context() as patch:
        _die_after_save(patch, at_step=8)
        with pytest.raises(Killed):
            train(_model(), images, SCHEDULE, seed=7, resume=resume)
    # the config changed (another seed): starting over gives the fresh run's weights
    reference = _model()
    train(reference, images, SCHEDULE, seed=8)
    restarted = _model()
    train(restarted, images, SCHEDULE, seed=8, resume=Resume(resume.path, every=4, min_seconds=0))
    assert _same_state(restarted, reference)


def test_resumed_fine_tuning_gives_the_uninterrupted_result(tmp_path, monkeypatch):
    images = _set(20, 1, 2)
    pretrained = _model()
    schedule = Schedule(steps=9, batch_size=6, lr=0.05)
    expected = finetune(pretrained, images, images, 2, schedule, seed=4)
    resume = Resume(tmp_path / "lr.state", every=3, min_seconds=0)
    with monkeypatch.context() as patch:
        _die_after_save(patch, at_step=6)
        with pytest.raises(Killed):
            finetune(pretrained, images, images, 2, schedule, seed=4, resume=resume)
    result = finetune(pretrained, images, images, 2, schedule, seed=4, resume=Resume(resume.path, every=3, min_seconds=0))
    assert (result["test_accuracy"], result["train_loss"]) == (expected["test_accuracy"], expected["train_loss"])


def _domain(seed, classes, n):
    y = np.arange(n, dtype=np.int64) % classes
    return Dataset(_images(n, seed), y, _images(6, seed + 10), np.arange(6, dtype=np.int64) % classes,
                   [f"c{i}" for i in range(classes)])


def test_resumed_multidomain_training_ends_with_the_uninterrupted_weights(tmp_path, monkeypatch):
    datasets = {"alpha": _domain(0, 2, 30), "beta": _domain(1, 3, 10)}
    schedule = Schedule(steps=11, batch_size=8, lr=0.05)
    reference, expected = train_multidomain("multibn", {"width": 4}, datasets, schedule, 16, seed=5)
    resume = Resume(tmp_path / "md.state", every=3, min_seconds=0)
    with monkeypatch.context() as patch:
        _die_after_save(patch, at_step=6)  # mid-epoch: an epoch here is 2 domains x 2 batches
        with pytest.raises(Killed):
            train_multidomain("multibn", {"width": 4}, datasets, schedule, 16, seed=5, resume=resume)
    resumed, metrics = train_multidomain(
        "multibn", {"width": 4}, datasets, schedule, 16, seed=5, resume=Resume(resume.path, every=3, min_seconds=0)
    )
    assert _same_state(resumed, reference)
    assert metrics["source_test_accuracy"] == expected["source_test_accuracy"]


def test_a_checkpoint_killed_while_written_leaves_no_file_that_looks_finished(tmp_path, monkeypatch):
    path = tmp_path / "experts" / "e.pt"
    original = torch.save

    def dies_half_way(payload, file):
        original(payload, file)
        Path(file).write_bytes(Path(file).read_bytes()[:100])  # a partial write...
        raise Killed  # ...then the process dies

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(Killed):
        save_checkpoint(path, _model(), "resnet", {"width": 4}, ["a", "b", "c"], {})
    assert not path.exists()

    rows = tmp_path / "finetune.csv"
    monkeypatch.setattr(os, "replace", lambda *_: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        write_rows(rows, [{"expert": "e", "lr": 0.1}], ["expert", "lr"])
    assert not rows.exists()


def test_resume_files_live_outside_the_outputs():
    assert resume_file("results/experts/resnet-generic.pt") == Path("results/resume/experts/resnet-generic.pt.state")
    assert resume_file("results/finetune/dots/full/e.csv", ".lr0.1") == Path(
        "results/resume/finetune/dots/full/e.csv.lr0.1.state"
    )


# --- the real workflow ------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    """PIDs of every process below ``pid`` (from /proc), so only our own processes are touched."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _training_process(snakemake_pid: int, script: str) -> int | None:
    for pid in _descendants(snakemake_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if script in cmdline and "python" in cmdline:
            return pid
    return None


def _planned(workdir: Path, *targets: str) -> dict[str, int]:
    import re

    result = run_snakemake(workdir, "-n", *targets)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    if "Nothing to be done" in output:
        return {}
    rows = re.findall(r"^(\w+)\s+(\d+)$", output.split("Job stats:", 1)[1], flags=re.MULTILINE)
    return {rule: int(n) for rule, n in rows if rule not in ("total", "all")}


GENERIC = "results/experts/resnet-generic.pt"
SCRATCH = "results/experts/resnet-shapes-scratch.pt"
# Checkpoint every 10 steps, however short they are.
RESUME_ENV = {"ZOOSELECT_CHECKPOINT_EVERY": "10", "ZOOSELECT_CHECKPOINT_SECONDS": "0"}


@pytest.mark.workflow
def test_a_sigkilled_training_job_is_finished_by_the_rerun_and_nothing_else(tmp_path_factory):
    config = {**TINY, "training": {**TINY["training"], "generic": {"steps": 400, "batch_size": 32, "lr": 0.05}}}
    workdir, reference = tmp_path_factory.mktemp("faults"), tmp_path_factory.mktemp("uninterrupted")
    for directory in (workdir, reference):
        write_config(directory, config)
    done = run_snakemake(workdir, SCRATCH, env=RESUME_ENV)  # another expert, finished before the fault
    assert done.returncode == 0, done.stderr[-3000:]

    state = workdir / resume_file(GENERIC)
    run = subprocess.Popen(
        snakemake_command(workdir, "--cores", "2", GENERIC),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **RESUME_ENV},
    )
    try:
        deadline = time.monotonic() + 120
        while not state.exists() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.05)
        assert state.exists(), "the generic expert's training wrote no resume checkpoint"
        trainer = _training_process(run.pid, "train_expert.py")
        assert trainer is not None
        # Freeze snakemake so that what the kill left is seen before snakemake cleans up after it.
        os.kill(run.pid, signal.SIGSTOP)
        os.kill(trainer, signal.SIGKILL)
        time.sleep(0.5)
        experts = workdir / "results" / "experts"
        assert not (experts / "resnet-generic.pt").exists() and not (experts / "resnet-generic.json").exists()
        assert (experts / "resnet-shapes-scratch.pt").exists()
        os.kill(run.pid, signal.SIGCONT)
        _, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.kill(run.pid, signal.SIGCONT)
            run.kill()
            run.wait()
    assert run.returncode != 0, "snakemake did not notice that its job was killed"
    assert state.exists()  # kept for the re-run: it is no output of the failed job

    # The re-run plans the killed job and nothing else, and continues it.
    assert _planned(workdir, GENERIC, SCRATCH) == {"train_generic_expert": 1}
    rerun = run_snakemake(workdir, GENERIC, SCRATCH, env=RESUME_ENV)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = (workdir / "results" / "logs" / "experts" / "resnet-generic.log").read_text()
    assert "resuming from step" in log, log[-2000:]
    assert not state.exists()  # removed once the outputs were written
    assert _planned(workdir, GENERIC, SCRATCH) == {}

    # ... and ends with the checkpoint an uninterrupted run makes.
    uninterrupted = run_snakemake(reference, GENERIC, env=RESUME_ENV)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    resumed, _ = load_checkpoint(workdir / GENERIC)
    whole, _ = load_checkpoint(reference / GENERIC)
    assert _same_state(resumed, whole)

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

import h5py
import numpy as np
import pytest
import torch

from _tiny import TINY, snakemake_command, write_config, run_snakemake
from zooselect.data import Dataset
from zooselect.cache import read_cache, write_arrays, write_cache
from zooselect.io import BadFileError, read_json, set_remake_hint, write_rows
from zooselect.models import create_model, load_checkpoint, save_checkpoint
from zooselect.models.local import load_local_expert
from zooselect.runtime import workflow_remake_hint
from zooselect.selection import load_zoo_caches
from zooselect.summary import read_finetune, read_scores
from zooselect.multidomain_training import train_multidomain
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


# --- bad files: each reader names the file and what re-creates it ---------------------------


def _cache(path, expert="e", target="dots", regime="full"):
    rng = np.random.default_rng(0)
    write_cache(path, features=rng.normal(size=(6, 4)), probs=np.full((6, 3), 1 / 3), labels=np.arange(6) % 2,
                indices=np.arange(6), attrs={"expert": expert, "target": target, "regime": regime})  # fmt: skip
    return path


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_truncated_or_overwritten_cache_is_named_with_what_re_creates_it(tmp_path, monkeypatch, damage):
    results = tmp_path / "results" / "cache" / "dots" / "full"
    path, sibling = _cache(results / "e.h5"), _cache(results / "f.h5", expert="f")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x00garbage" * 200)
    with pytest.raises(BadFileError, match=rf"{path}: not a readable HDF5 file") as caught:
        load_zoo_caches([sibling, path], check_layout=True)
    assert "re-create it" in str(caught.value)
    # A workflow job says how the workflow re-creates its output.
    monkeypatch.chdir(tmp_path)
    set_remake_hint(workflow_remake_hint)
    try:
        with pytest.raises(BadFileError, match=rf"delete it and run snakemake again.*--forcerun {path}"):
            read_cache(path)
    finally:
        set_remake_hint(None)
    assert read_cache(sibling)["expert"] == "f"  # nothing else touched


def test_another_experts_cache_copied_into_the_file_is_refused_naming_it(tmp_path):
    folder = tmp_path / "results" / "cache" / "dots" / "full"
    good, copied = _cache(folder / "e.h5"), folder / "f.h5"
    copied.write_bytes(good.read_bytes())
    with pytest.raises(BadFileError, match=rf"{copied}: it was made for another task or expert: expert 'e' \(expected 'f'\)"):
        load_zoo_caches([good, copied], check_layout=True)
    moved = tmp_path / "results" / "cache" / "dots" / "5shot" / "e.h5"
    moved.parent.mkdir()
    moved.write_bytes(good.read_bytes())
    with pytest.raises(BadFileError, match=r"regime 'full' \(expected '5shot'\)"):
        load_zoo_caches([moved], check_layout=True)


def test_a_cache_with_arrays_of_the_wrong_shape_is_named(tmp_path):
    path = tmp_path / "e.h5"
    write_arrays(path, {"features": np.zeros((5, 4)), "probs": np.zeros((6, 3)), "labels": np.zeros(6, dtype=np.int64),
                        "indices": np.arange(6)}, {"expert": "e"})  # fmt: skip
    with pytest.raises(BadFileError, match=rf"{path}: cache array 'features' has shape \(5, 4\), expected 2-D with 6 rows"):
        read_cache(path)
    write_arrays(path, {"features": np.zeros((6, 4)), "labels": np.zeros(6, dtype=np.int64)}, {})
    with pytest.raises(BadFileError, match=rf"{path}: lacks array\(s\) probs, indices"):
        read_cache(path)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "random bytes"])
def test_a_damaged_checkpoint_is_named_and_torchs_unsafe_advice_never_shown(tmp_path, damage):
    path = tmp_path / "results" / "experts" / "e.pt"
    save_checkpoint(path, _model(), "resnet", {"width": 4}, ["a", "b", "c"], {})
    data = path.read_bytes()
    damaged = {"truncated": data[: len(data) // 2], "garbage": b"garbage" * 100,
               "random bytes": np.random.default_rng(0).bytes(3000)}[damage]  # fmt: skip
    path.write_bytes(damaged)
    for load in (load_checkpoint, load_local_expert):
        with pytest.raises(BadFileError, match=str(path)) as caught:
            load(path)
        message = str(caught.value)
        assert "weights_only" not in message and "trusted source" not in message, message
        assert ("truncated or damaged" if damage == "truncated" else "not a checkpoint") in message


def test_a_corrupt_resume_state_is_ignored_without_torchs_advice(tmp_path, caplog):
    state = tmp_path / "run.state"
    state.write_bytes(b"garbage" * 100)
    with caplog.at_level("WARNING"):
        assert Resume(state, every=4).load("key") is None
    assert str(state) in caplog.text and "weights_only" not in caplog.text


FINETUNE = "expert,lr,test_accuracy,seconds,train_loss\ne,0.05,0.5,1.0,0.7\n"


@pytest.mark.parametrize(
    "content, message",
    [
        (np.random.default_rng(1).bytes(400), "not a text CSV file"),  # UnicodeDecodeError before
        (b"not,a,finetune,file\n1,2,3,4\n", r"lacks column\(s\) expert, lr, test_accuracy, seconds"),
        (b"", "not a CSV table"),
        (FINETUNE.replace("0.5,", "high,").encode(), "column test_accuracy holds 'high', not a number"),
        (FINETUNE.replace("\ne,", "\nf,").encode(), "holds rows of expert\\(s\\) f, not only of e"),
    ],
)
def test_a_garbage_finetune_csv_is_named(tmp_path, content, message):
    good = tmp_path / "results" / "finetune" / "dots" / "full" / "d.csv"
    good.parent.mkdir(parents=True)
    good.write_text(FINETUNE.replace("\ne,", "\nd,"))
    bad = good.with_name("e.csv")
    bad.write_bytes(content)
    with pytest.raises(BadFileError, match=f"{bad}: {message}"):
        read_finetune([good, bad])
    assert len(read_finetune([good])) == 1  # the good file still reads


def test_a_score_csv_listing_an_expert_twice_is_named(tmp_path):
    path = tmp_path / "results" / "scores" / "dots" / "full" / "lfc.csv"
    path.parent.mkdir(parents=True)
    path.write_text("expert,score,seconds\ne,0.1,0.01\ne,0.2,0.01\nf,0.3,0.01\n")
    with pytest.raises(BadFileError, match=rf"{path}: lists expert\(s\) e more than once"):
        read_scores([path])


def test_a_bad_json_file_is_named(tmp_path):
    path = tmp_path / "split.json"
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(BadFileError, match=rf"{path}: not a JSON file"):
        read_json(path)
    path.write_text('{"shots": 0}')
    with pytest.raises(BadFileError, match=rf"{path}: lacks train_indices"):
        read_json(path, keys=("train_indices", "shots"))


def test_an_hdf5_file_is_verified_before_it_replaces_the_old_one(tmp_path, monkeypatch):
    path = _cache(tmp_path / "e.h5")
    before = path.read_bytes()
    original = h5py.Dataset.__getitem__

    def reads_zeros(self, key):  # as if the bytes on disk were not those written
        return np.zeros_like(original(self, key))

    monkeypatch.setattr(h5py.Dataset, "__getitem__", reads_zeros)
    with pytest.raises(OSError, match="read back differs"):
        _cache(path, expert="other")
    monkeypatch.undo()
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["e.h5"]


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


SCORES = "results/scores/dots/5shot/lfc.csv"  # one job scores every method on dots/5shot
# Two single-domain experts, one regime, closed-form methods (no probe, source means or gradients).
SMALL = {
    **TINY,
    "regimes": ["5shot"],
    "zoo": {**{k: v for k, v in TINY["zoo"].items() if k != "multidomain"}, "inits": ["scratch"]},
    "methods": {"lfc": {}, "leep": {}},
}


def _stamps(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.mark.workflow
def test_a_bad_cache_or_checkpoint_in_the_workflow_is_named_with_what_to_delete(tmp_path):
    """Truncated cache, another expert's cache copied in, truncated checkpoint: the failing job's
    log names the file and says to delete it; nothing else is lost; doing so finishes the run."""
    write_config(tmp_path, SMALL)
    done = run_snakemake(tmp_path, SCORES)
    assert done.returncode == 0, done.stderr[-3000:]
    results = tmp_path / "results"
    cache = Path("results/cache/dots/5shot/resnet-generic.h5")
    score_log = results / "logs" / "scores" / "dots" / "5shot.log"
    before = _stamps(results / "experts") | _stamps(results / "cache")

    data = (tmp_path / cache).read_bytes()
    (tmp_path / cache).write_bytes(data[: len(data) // 2])
    failed = run_snakemake(tmp_path, "--forcerun", "score_experts", SCORES)
    assert failed.returncode != 0
    message = score_log.read_text()
    assert f"{cache}: not a readable HDF5 file" in message
    assert f"delete it and run snakemake again, which re-creates it (or run snakemake --forcerun {cache})" in message

    (tmp_path / cache).write_bytes((tmp_path / cache.with_name("resnet-shapes-scratch.h5")).read_bytes())
    failed = run_snakemake(tmp_path, "--forcerun", "score_experts", SCORES)
    assert failed.returncode != 0
    wrong = "it was made for another task or expert: expert 'resnet-shapes-scratch' (expected 'resnet-generic')"
    assert f"{cache}: {wrong}" in score_log.read_text()
    after = _stamps(results / "experts") | _stamps(results / "cache")
    assert {k: v for k, v in after.items() if k != cache.name and not k.endswith(f"/{cache.name}")} == {
        k: v for k, v in before.items() if not k.endswith(f"/{cache.name}")
    }  # every other checkpoint and cache is untouched

    checkpoint = Path("results/experts/resnet-shapes-scratch.pt")
    data = (tmp_path / checkpoint).read_bytes()
    (tmp_path / checkpoint).write_bytes(data[: len(data) // 2])
    failed = run_snakemake(tmp_path, "--keep-going", SCORES)
    assert failed.returncode != 0
    message = (results / "logs" / "cache" / "resnet-shapes-scratch.log").read_text()
    assert f"{checkpoint}: a truncated or damaged checkpoint" in message and "delete it and run snakemake again" in message
    assert "weights_only" not in message
    assert (tmp_path / cache).exists()  # the other expert's job was not undone

    # Doing what the messages say finishes the run.
    (tmp_path / cache).unlink()
    (tmp_path / checkpoint).unlink()
    rerun = run_snakemake(tmp_path, SCORES)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _planned(tmp_path, SCORES) == {}

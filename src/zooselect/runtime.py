"""What every workflow script does first: log to its file, use its threads and device.

Scripts stay thin: ``log = start_job(snakemake)`` sends stderr (progress
bars, tracebacks) and logging to the rule's log, and pins torch to the
threads Snakemake gave the job. A job whose rule asks for ``resources:
gpu=1`` also leases one GPU for its lifetime (``zooselect.devices``); the
script puts its network on ``job_device()``, which is the CPU where there
is no GPU.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, Iterator


def start_job(snakemake: Any, uses_torch: bool = False) -> logging.Logger:
    """Redirect stderr and logging to the job's log; set torch's threads; lease a GPU for a GPU rule."""
    if snakemake.log:
        sys.stderr = open(str(snakemake.log[0]), "w", buffering=1)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    from .io import set_remake_hint

    set_remake_hint(workflow_remake_hint)
    log = logging.getLogger(f"zooselect.{snakemake.rule}")
    log.info("job %s, wildcards %s, threads %d", snakemake.rule, dict(snakemake.wildcards), snakemake.threads)
    if uses_torch:
        use_threads(snakemake.threads)
    if int(snakemake.resources.get("gpu", 0) or 0) > 0:
        from .devices import acquire

        lease = acquire(label=f"{snakemake.rule} {dict(snakemake.wildcards)}")
        log.info("device: %s", lease.describe())
    return log


def workflow_remake_hint(path: Path) -> str:
    """What a workflow user does about a bad file: an output of the workflow (under
    ``results/``) is re-created by deleting it or forcing the job that makes it; anything
    else is one of the workflow's inputs, which only the user can replace."""
    try:
        inside = Path(path).resolve().relative_to(Path.cwd().resolve()).parts[:1] == ("results",)
    except ValueError:
        inside = False
    if inside:
        return (
            f"it is an output of this workflow: delete it and run snakemake again, which re-creates it "
            f"(or run snakemake --forcerun {path})"
        )
    return "it is an input of this workflow (the config names it), not one of its outputs: replace it"


def job_device():
    """The torch device of this job: its leased GPU, else the CPU."""
    from .devices import current_device

    return current_device()


def loader_workers(snakemake: Any) -> int:
    """DataLoader worker processes of a job that streams images from disk: as many as its threads."""
    return max(0, int(snakemake.threads))


def expert_job_tasks(snakemake: Any, outputs: list[str]) -> Iterator[tuple[str, str, Any, str, str]]:
    """An expert job's (target, regime) tasks: ``(target, regime, dataset, split path, output)``
    each, in the order of ``params.tasks``, every target's dataset read once per job."""
    from .data import load_dataset

    datasets = {}
    inputs = snakemake.input
    for task, dataset_path, split_path, output in zip(
        snakemake.params.tasks, inputs.datasets, inputs.splits, outputs, strict=True
    ):
        if dataset_path not in datasets:
            datasets[dataset_path] = load_dataset(dataset_path)
        yield task["target"], task["regime"], datasets[dataset_path], split_path, output


def use_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(threads)))


def resume_file(output: str | Path, suffix: str = "") -> Path:
    """Where a job keeps the resume state of the run that makes ``output``.

    ``results/experts/x.pt`` -> ``results/resume/experts/x.pt{suffix}.state``:
    outside every declared output, so Snakemake keeps it when the job fails
    and never mistakes it for a result. The job removes it on success.
    """
    parts = Path(output).parts
    if parts and parts[0] == "results":
        parts = parts[1:]
    relative = Path(*parts) if parts else Path("job")
    return Path("results", "resume", relative.parent, f"{relative.name}{suffix}.state")


class Stopwatch:
    """Seconds since creation: ``watch.seconds``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start

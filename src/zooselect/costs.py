"""What each step cost, from the jobs' own Snakemake ``benchmark:`` records.

A benchmark record is a TSV whose ``s`` column is the job's wall-clock
seconds, process start and imports included. A job may do several tasks
(with ``jobs.granularity: expert`` one job extracts an expert's caches, or
fine-tunes it, on every (target, regime)); its wall time is then shared
among its tasks in proportion to the seconds each task measured itself
(its in-script time), so the process start is charged to every task pro
rata and the shares add up to the job's record.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Hashable, Mapping

import pandas as pd


def job_seconds(path: str | Path) -> float:
    """Wall-clock seconds of a Snakemake benchmark record (its last row's ``s``)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows or "s" not in rows[-1]:
        raise ValueError(f"{path} is not a Snakemake benchmark record (no 's' column)")
    return float(rows[-1]["s"])


def apportion(wall_seconds: float, task_seconds: Mapping[Hashable, float]) -> dict[Hashable, float]:
    """Share a job's wall time among its tasks in proportion to their own measured seconds.

    Equal shares when the tasks measured nothing (all zero).
    """
    if not task_seconds:
        raise ValueError("a job with no tasks has nothing to share its time among")
    total = float(sum(task_seconds.values()))
    if total <= 0:
        return {task: wall_seconds / len(task_seconds) for task in task_seconds}
    return {task: wall_seconds * seconds / total for task, seconds in task_seconds.items()}


def record_key(path: str | Path) -> dict[str, str]:
    """The wildcards a benchmark record's path names, from what follows ``benchmarks/{stage}/``.

    ``{expert}.tsv`` (one job per expert) gives ``name``;
    ``{target}/{regime}.tsv`` (one scoring job per target and regime) gives
    target and regime; ``{target}/{regime}/{name}.tsv`` gives all three
    (``name`` is an expert, or a method for scoring jobs).
    """
    parts = Path(path).with_suffix("").parts
    if "benchmarks" not in parts:
        raise ValueError(f"{path} is not under a benchmarks/ folder")
    after_stage = parts[parts.index("benchmarks") + 2 :]
    keys = {1: ("name",), 2: ("target", "regime"), 3: ("target", "regime", "name")}.get(len(after_stage))
    if keys is None:
        raise ValueError(f"{path}: expected benchmarks/{{stage}}/ then 1 to 3 path parts")
    return dict(zip(keys, after_stage))


def charge_job_records(tasks, records, name_column: str = "expert"):
    """``tasks`` (a DataFrame with target, regime, `name_column` and the
    in-script ``seconds``) with ``seconds`` replaced by each task's share of
    its job's benchmark record. Every task must belong to exactly one record.
    """
    charged = tasks.copy()
    charged["seconds"] = float("nan")
    for path in records:
        key = record_key(path)
        mask = pd.Series(True, index=charged.index)
        if "name" in key:
            mask &= charged[name_column] == key["name"]
        if "target" in key:
            mask &= (charged.target == key["target"]) & (charged.regime == key["regime"])
        if not mask.any():
            raise ValueError(f"benchmark record {path} matches no task")
        shares = apportion(job_seconds(path), dict(tasks.loc[mask, "seconds"]))
        charged.loc[list(shares), "seconds"] = list(shares.values())
    missing = charged[charged.seconds.isna()]
    if len(missing):
        raise ValueError(f"no benchmark record for {len(missing)} task(s), e.g. {missing.iloc[0].to_dict()}")
    return charged

"""What each step cost: the jobs' own Snakemake ``benchmark:`` records, and
the work seconds their outputs record.

A benchmark record is a TSV whose ``s`` column is the job's wall-clock
seconds, process start and imports included. A job may do several tasks
(with ``jobs.granularity: expert`` one job extracts an expert's caches, or
fine-tunes it, on every (target, regime)).

**Fine-tuning** is charged its jobs' wall time: a job's record is shared
among its tasks in proportion to the seconds each task measured itself
(``charge_job_records``), so the shares add up to the job's record.

**Selection** is charged per method, for exactly what its registry inputs
(``zooselect.scores.Method.inputs``) consume (``method_parts``):

- ``forward_seconds``: the shared forward pass (features and source-head
  probabilities), the cache attribute of that name, once per (expert, task),
  for a method that takes features, probs or gradients (the gradients are a
  second pass that needs the forward pass's features: the ridge head);
- ``gradient_seconds``: the per-sample gradients (the cache attribute), for a
  method that takes gradients (LGC);
- ``probe_seconds``: RSA's probe network, trained and run on the (target,
  regime)'s selection sample (the probe file's ``train_seconds`` and
  ``feature_seconds``), for a method that takes probe features; the probe's
  features on the stability pool are not selection and are not charged;
- ``source_means_seconds``: the expert's class-mean features on its source
  data (the source-means file's ``seconds``), for a method that takes source
  means (Domain Similarity). They are made once per expert and serve every
  (target, regime), so each task is charged an equal share;
- ``scoring_seconds``: the method's own scoring (the score CSV's ``seconds``).

A method that takes none of these (``random`` takes the expert's name only)
costs its scoring time; one that takes only labels or the expert's
attributes (source accuracy, parameter count) likewise.

**Overhead.** The rest of a selection job's wall time, its job start
(interpreter, imports, reading the inputs, writing the outputs), is its
overhead: the record's wall seconds minus the work seconds its outputs
recorded, shared among the outputs in proportion to their work
(``job_overheads``). A method's ``selection_overhead_seconds`` is the share
of each job whose outputs it reads (the cache jobs for a method reading
cache arrays or attributes, the probe and source-means jobs where it takes
them, always its scoring job); it is reported beside the cost, never in it.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Hashable, Iterable, Mapping, Sequence

import pandas as pd

from .cache import read_attrs
from .paths import trailing_wildcards
from .scores import ATTRIBUTE_INPUTS

FORWARD = "forward_seconds"
GRADIENTS = "gradient_seconds"
PROBE = "probe_seconds"
SOURCE_MEANS = "source_means_seconds"
SCORING = "scoring_seconds"
#: The parts of a method's selection cost, in the order the tables show them.
PARTS = (FORWARD, GRADIENTS, PROBE, SOURCE_MEANS, SCORING)
#: The job start of the jobs a method's selection reads, beside its cost.
OVERHEAD = "selection_overhead_seconds"
#: The overhead shares of the per-expert inputs and of the probe (``input_costs``, ``probe_costs``).
CACHE_OVERHEAD = "cache_overhead_seconds"
SOURCE_MEANS_OVERHEAD = "source_means_overhead_seconds"
PROBE_OVERHEAD = "probe_overhead_seconds"
#: A score row's share of its scoring job's overhead.
SCORE_OVERHEAD = "overhead_seconds"
#: ``input_costs``'s columns.
INPUT_COST_COLUMNS = ["target", "regime", "expert", FORWARD, GRADIENTS, SOURCE_MEANS, CACHE_OVERHEAD, SOURCE_MEANS_OVERHEAD]

# Registry inputs that the forward pass makes (gradients need its features).
FORWARD_INPUTS = frozenset({"features", "probs", "gradients"})
SOURCE_MEANS_INPUTS = frozenset({"source_means", "source_counts"})
# A method reading any of these needs the expert's cache job to have run.
CACHE_JOB_INPUTS = FORWARD_INPUTS | ATTRIBUTE_INPUTS

#: The paper's runtime table (Deshpande et al. 2021, docs/methods.md), GPU hours:
#: regime -> brute force, and per method its top-3 fine-tuning and its selection.
PAPER_GPU_HOURS: dict[str, dict[str, Any]] = {
    "full": {
        "brute_force": 48.17,
        "topk": {"lfc": 5.15, "lgc": 3.89, "leep": 5.01, "feature_metrics": 6.02, "domain_similarity": 4.87},
        "selection": {"lfc": 0.41, "lgc": 8.65, "leep": 0.02, "feature_metrics": 0.00, "domain_similarity": 0.40},
    },
    "20shot": {
        "brute_force": 41.67,
        "topk": {"lfc": 4.35, "lgc": 3.40, "leep": 3.85, "feature_metrics": 4.86, "domain_similarity": 4.11},
        "selection": {"lfc": 1.09, "lgc": 15.26, "leep": 0.03, "feature_metrics": 0.00, "domain_similarity": 1.31},
    },
}
#: The method the ratios compare every method's selection with (``selection_vs_lfc``).
REFERENCE_METHOD = "lfc"
RATIO_COLUMNS = [
    "zoo",
    "regime",
    "method",
    "selection_share",
    "selection_topk_share",
    "selection_vs_lfc",
    "paper_selection_share",
    "paper_selection_topk_share",
    "paper_selection_vs_lfc",
]


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
    parts = Path(path).parts
    if "benchmarks" not in parts:
        raise ValueError(f"{path} is not under a benchmarks/ folder")
    after_stage = len(parts) - parts.index("benchmarks") - 2
    keys = {1: ("name",), 2: ("target", "regime"), 3: ("target", "regime", "name")}.get(after_stage)
    if keys is None:
        raise ValueError(f"{path}: expected benchmarks/{{stage}}/ then 1 to 3 path parts")
    return trailing_wildcards(path, keys)


def _job_shares(tasks: pd.DataFrame, records, name_column: str, overhead: bool) -> pd.Series:
    """Each task's share of its job's record: of its wall time, or (`overhead`) of
    its wall time minus the work its tasks measured (``seconds``)."""
    shares = pd.Series(math.nan, index=tasks.index, dtype=float)
    for path in records:
        key = record_key(path)
        mask = pd.Series(True, index=tasks.index)
        if "name" in key:
            mask &= tasks[name_column] == key["name"]
        if "target" in key:
            mask &= (tasks.target == key["target"]) & (tasks.regime == key["regime"])
        if not mask.any():
            raise ValueError(f"benchmark record {path} matches no task")
        if shares[mask].notna().any():
            raise ValueError(f"benchmark record {path} matches tasks another record already charged")
        work = tasks.loc[mask, "seconds"].astype(float)
        wall = job_seconds(path)
        share = apportion(wall - float(work.sum()) if overhead else wall, dict(work))
        shares.loc[list(share)] = list(share.values())
    missing = tasks[shares.isna()]
    if len(missing):
        raise ValueError(f"no benchmark record for {len(missing)} task(s), e.g. {missing.iloc[0].to_dict()}")
    return shares


def charge_job_records(tasks, records, name_column: str = "expert"):
    """``tasks`` (a DataFrame with target, regime, `name_column` and the
    in-script ``seconds``) with ``seconds`` replaced by each task's share of
    its job's benchmark record. Every task must belong to exactly one record.
    """
    charged = tasks.copy()
    charged["seconds"] = _job_shares(tasks, records, name_column, overhead=False)
    return charged


def job_overheads(tasks: pd.DataFrame, records, name_column: str = "expert") -> pd.Series:
    """Each task's share of its job's overhead (index of `tasks`).

    `tasks` has the work ``seconds`` each task's output recorded (and
    target, regime, `name_column` to match the records, as
    ``charge_job_records``). A job's overhead is its record's wall seconds
    minus the work of all its tasks, shared in proportion to their work
    (equally where they recorded none). Every task must belong to exactly
    one record.
    """
    return _job_shares(tasks, records, name_column, overhead=True)


# ---- the work the outputs recorded ---------------------------------------


def _attrs(path: str | Path, keys: Sequence[str], what: str) -> dict[str, Any]:
    attrs = read_attrs(path)
    missing = [key for key in keys if key not in attrs]
    if missing:
        raise ValueError(
            f"{what} {path} records no {', '.join(missing)} (made before selection costs were "
            "split into parts): delete it so that the workflow makes it again"
        )
    return {key: attrs[key] for key in keys}


def read_cache_work(paths: Iterable[str | Path]) -> pd.DataFrame:
    """target, regime, expert, forward_seconds, gradient_seconds of each cache."""
    keys = ("target", "regime", "expert", FORWARD, GRADIENTS)
    return pd.DataFrame([_attrs(path, keys, "cache") for path in paths], columns=list(keys))


def read_source_means_work(paths: Iterable[str | Path]) -> pd.DataFrame:
    """expert, seconds (the class means' computation) of each source-means file."""
    keys = ("expert", "seconds")
    return pd.DataFrame([_attrs(path, keys, "source-means file") for path in paths], columns=list(keys))


def read_probe_work(paths: Iterable[str | Path]) -> pd.DataFrame:
    """target, regime, train_seconds, feature_seconds and seconds (all the probe job's work,
    with the features on the stability pool) of each probe file."""
    keys = ("target", "regime", "train_seconds", "feature_seconds", "seconds")
    return pd.DataFrame([_attrs(path, keys, "probe") for path in paths], columns=list(keys))


# ---- the per-expert and per-task inputs of selection ---------------------


def input_costs(
    caches: pd.DataFrame,
    cache_records: Iterable[str | Path],
    source_means: pd.DataFrame | None = None,
    source_means_records: Iterable[str | Path] | None = None,
) -> pd.DataFrame:
    """Per (target, regime, expert): what its selection inputs cost, and the overhead of making them.

    caches: target, regime, expert, forward_seconds, gradient_seconds
    (``read_cache_work``). source_means: expert, seconds
    (``read_source_means_work``), or None where none were made.
    source_means_records: the benchmark records of the source-means jobs;
    None where the experts' cache jobs wrote them (``jobs.granularity:
    expert``), whose overhead they then share.

    Returns target, regime, expert, forward_seconds, gradient_seconds,
    source_means_seconds (the expert's source means shared equally among its
    tasks; NaN where none were made), cache_overhead_seconds and
    source_means_overhead_seconds (NaN where none were made).
    """
    costs = caches[["target", "regime", "expert", FORWARD, GRADIENTS]].reset_index(drop=True).astype(
        {FORWARD: float, GRADIENTS: float}
    )
    jobs = costs[["target", "regime", "expert"]].assign(seconds=costs[FORWARD] + costs[GRADIENTS])
    if source_means is None:
        costs[CACHE_OVERHEAD] = job_overheads(jobs, cache_records)
        return costs.assign(**{SOURCE_MEANS: math.nan, SOURCE_MEANS_OVERHEAD: math.nan})[INPUT_COST_COLUMNS]
    means = source_means[["expert", "seconds"]].reset_index(drop=True).astype({"seconds": float})
    if source_means_records is None:  # the experts' cache jobs wrote them
        shares = job_overheads(pd.concat([jobs, means], ignore_index=True), cache_records)
        costs[CACHE_OVERHEAD] = shares.iloc[: len(jobs)].to_numpy()
        means_overhead = shares.iloc[len(jobs) :].to_numpy()
    else:
        costs[CACHE_OVERHEAD] = job_overheads(jobs, cache_records)
        means_overhead = job_overheads(means, source_means_records).to_numpy()
    missing = sorted(set(costs.expert) - set(means.expert))
    if missing:
        raise ValueError(f"no source means for expert(s) {', '.join(missing)}")
    tasks = costs.groupby("expert")["expert"].transform("size")
    costs[SOURCE_MEANS] = costs.expert.map(dict(zip(means.expert, means.seconds))) / tasks
    costs[SOURCE_MEANS_OVERHEAD] = costs.expert.map(dict(zip(means.expert, means_overhead))) / tasks
    return costs[INPUT_COST_COLUMNS]


def probe_costs(probes: pd.DataFrame, records: Iterable[str | Path]) -> pd.DataFrame:
    """Per (target, regime): RSA's probe (``probe_seconds``: training it and its features
    on the selection sample) and its job's overhead (``probe_overhead_seconds``).

    probes: target, regime, train_seconds, feature_seconds, seconds (``read_probe_work``).
    """
    probes = probes.reset_index(drop=True)
    return pd.DataFrame(
        {
            "target": probes.target,
            "regime": probes.regime,
            PROBE: probes.train_seconds.astype(float) + probes.feature_seconds.astype(float),
            PROBE_OVERHEAD: job_overheads(probes[["target", "regime", "seconds"]], records),
        }
    )


# ---- one method's selection ------------------------------------------------


def method_parts(inputs: Iterable[str]) -> tuple[str, ...]:
    """The parts of `PARTS` a method with these registry inputs is charged."""
    inputs = set(inputs)
    consumed = {
        FORWARD: bool(inputs & FORWARD_INPUTS),
        GRADIENTS: "gradients" in inputs,
        PROBE: "probe_features" in inputs,
        SOURCE_MEANS: bool(inputs & SOURCE_MEANS_INPUTS),
        SCORING: True,
    }
    return tuple(part for part in PARTS if consumed[part])


def _total(values: pd.Series) -> float:
    """The sum, NaN where any value is (a part not measured is not free)."""
    return float(values.sum(skipna=False))


def selection_cost(
    inputs: Iterable[str],
    scores: pd.DataFrame,
    experts: pd.DataFrame | None = None,
    probe: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """One method's selection of one zoo on one (target, regime), part by part.

    inputs: the method's registry inputs. scores: its score rows (expert,
    ``seconds``: the scoring; ``overhead_seconds``: the share of the scoring
    job's overhead, NaN where absent). experts: ``input_costs`` rows of the
    (target, regime), any order; None where nothing was extracted. probe: the
    (target, regime)'s ``probe_costs`` row, or None.

    Returns ``selection_seconds`` (the sum of the parts the method
    consumes), every part of ``PARTS`` (0 where it does not consume it; NaN
    where it does but it was not measured, as for every scored expert
    missing from `experts`) and ``selection_overhead_seconds``.
    """
    inputs = set(inputs)
    parts = method_parts(inputs)
    names = list(scores.expert)
    rows = experts.set_index("expert").reindex(names) if experts is not None else None

    def per_expert(column: str) -> float:
        return math.nan if rows is None else _total(rows[column])

    def from_probe(column: str) -> float:
        return math.nan if probe is None else float(probe[column])

    cost = {part: 0.0 for part in PARTS}
    for part in (FORWARD, GRADIENTS, SOURCE_MEANS):
        if part in parts:
            cost[part] = per_expert(part)
    if PROBE in parts:
        cost[PROBE] = from_probe(PROBE)
    cost[SCORING] = float(scores.seconds.astype(float).sum())
    overhead = _total(scores[SCORE_OVERHEAD]) if SCORE_OVERHEAD in scores else math.nan
    if inputs & CACHE_JOB_INPUTS:
        overhead += per_expert(CACHE_OVERHEAD)
    if SOURCE_MEANS in parts:
        overhead += per_expert(SOURCE_MEANS_OVERHEAD)
    if PROBE in parts:
        overhead += from_probe(PROBE_OVERHEAD)
    return {"selection_seconds": sum(cost[part] for part in parts), **cost, OVERHEAD: overhead}


def share(part: float, whole: float) -> float:
    """part / whole; NaN where the whole is NaN or not positive."""
    return part / whole if whole > 0 else math.nan


# ---- the ratios to read off the runtime table ------------------------------


def runtime_ratios(runtime: pd.DataFrame) -> pd.DataFrame:
    """The ratios the paper's runtime table is read for, per (zoo, regime, method), beside the paper's.

    runtime: ``figures.runtime_table``'s frame. Columns: zoo, regime, method;
    selection_share (selection / brute force) and selection_topk_share
    ((selection + top-3 fine-tuning) / brute force), both from the sums over
    targets; selection_vs_lfc (the method's selection / LFC's, in the same
    zoo and regime; NaN without LFC); and the same three from the paper's
    GPU hours (``PAPER_GPU_HOURS``; NaN where the paper has no number).
    """
    table = runtime[["zoo", "regime", "method", "selection_share", "selection_topk_share"]].copy()
    reference = runtime[runtime.method == REFERENCE_METHOD].set_index(["zoo", "regime"])["selection_seconds"]
    lfc = pd.Series(
        [reference.get((zoo, regime), math.nan) for zoo, regime in zip(runtime.zoo, runtime.regime)],
        index=runtime.index,
    )
    table["selection_vs_lfc"] = [share(s, r) for s, r in zip(runtime.selection_seconds, lfc)]

    def paper(regime: str, method: str) -> tuple[float, float, float]:
        hours = PAPER_GPU_HOURS.get(regime)
        if hours is None or method not in hours["selection"]:
            return math.nan, math.nan, math.nan
        selection, brute = hours["selection"][method], hours["brute_force"]
        return (
            selection / brute,
            (selection + hours["topk"][method]) / brute,
            selection / hours["selection"][REFERENCE_METHOD],
        )

    papers = [paper(regime, method) for regime, method in zip(table.regime, table.method)]
    for position, column in enumerate(RATIO_COLUMNS[-3:]):
        table[column] = [values[position] for values in papers]
    return table[RATIO_COLUMNS].reset_index(drop=True)

"""Where the benchmark's ground truth comes from: the fine-tuning sweep, or a published table.

``finetune.ground_truth: finetune`` (the default) judges every method
against the accuracies the workflow's own fine-tuning jobs measure.
``finetune.ground_truth: published`` reads them instead from a CSV of
fine-tuned accuracies that someone else measured (the field's standard
benchmark ships its table in ``data/published/``), and no fine-tuning job
runs. A published table has exactly the columns ``target, expert,
test_accuracy`` (an accuracy is a fraction in [0, 1]), one row per
(target, expert); it gives the full training set's accuracy, so it stands
for the ``full`` regime.

This module is the one reader of such a table. It refuses, naming the file
and the line, a table that would silently judge the wrong thing: missing or
unknown columns, an expert or target the config does not have, a (target,
expert) pair given twice, an accuracy that is not a number in [0, 1]; and,
naming them, the (target, expert) pairs the benchmark needs but the table
lacks. It reads files and nothing else: the summary does the judging.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

FINETUNE, PUBLISHED = "finetune", "published"
GROUND_TRUTHS = (FINETUNE, PUBLISHED)
PUBLISHED_COLUMNS = ("target", "expert", "test_accuracy")
#: The regime a published table's accuracies belong to (fine-tuned on the full training set).
PUBLISHED_REGIME = "full"
#: Pairs named in full in a "lacks" message before it only counts the rest.
_SHOWN = 10


class GroundTruthError(ValueError):
    """A published table of accuracies that cannot be used, with a message naming the culprit."""


def ground_truth_label(ground_truth: str, published: str | Path | None = None) -> str:
    """What the summary's ``ground_truth`` column says: ``finetune`` or ``published:<file name>``."""
    if ground_truth == FINETUNE:
        return FINETUNE
    if ground_truth == PUBLISHED:
        if not published:
            raise GroundTruthError("ground truth 'published' needs the path of the published table")
        return f"{PUBLISHED}:{Path(published).name}"
    raise GroundTruthError(f"unknown ground truth {ground_truth!r}; valid: {', '.join(GROUND_TRUTHS)}")


def read_published(
    path: str | Path,
    experts: Iterable[str] | None = None,
    targets: Iterable[str] | None = None,
) -> pd.DataFrame:
    """The published table at `path`, checked: columns target, expert, test_accuracy.

    experts, targets: the config's zoo and targets. When given, a row naming
    another expert or target is refused, and so is a table that lacks one of
    the (target, expert) pairs they make (every target x every expert: the
    benchmark judges every expert on every target). When None, only the
    file itself is checked (columns, numbers, duplicates).

    Raises GroundTruthError naming the file and, for a bad row, its line
    number (the header is line 1).
    """
    path = Path(path)
    if not path.is_file():
        raise GroundTruthError(f"published accuracies {path} do not exist or are not a file")
    experts = None if experts is None else list(experts)
    targets = None if targets is None else list(targets)
    rows, lines = [], {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        _check_columns(path, reader.fieldnames)
        for row in reader:
            line = reader.line_num
            if None in row:
                raise GroundTruthError(
                    f"{path}, line {line}: more values than the columns ({', '.join(PUBLISHED_COLUMNS)})"
                )
            empty = [column for column in PUBLISHED_COLUMNS if not (row[column] or "").strip()]
            if empty:
                raise GroundTruthError(f"{path}, line {line}: no value for {', '.join(empty)}")
            target, expert = row["target"].strip(), row["expert"].strip()
            if targets is not None and target not in targets:
                raise GroundTruthError(
                    f"{path}, line {line}: unknown target '{target}'; the config's targets: {', '.join(targets)}"
                )
            if experts is not None and expert not in experts:
                raise GroundTruthError(
                    f"{path}, line {line}: unknown expert '{expert}'; the config's zoo: {', '.join(experts)}"
                )
            if (target, expert) in lines:
                raise GroundTruthError(
                    f"{path}, line {line}: ({target}, {expert}) is given twice "
                    f"(first on line {lines[target, expert]})"
                )
            lines[target, expert] = line
            rows.append({"target": target, "expert": expert, "test_accuracy": _accuracy(path, line, row)})
    if not rows:
        raise GroundTruthError(f"{path} has a header but no rows")
    if experts is not None and targets is not None:
        missing = [(t, e) for t in targets for e in experts if (t, e) not in lines]
        if missing:
            shown = ", ".join(f"({t}, {e})" for t, e in missing[:_SHOWN])
            more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
            raise GroundTruthError(
                f"{path} lacks the accuracy of {len(missing)} (target, expert) pair(s) the benchmark "
                f"needs: {shown}{more}"
            )
    return pd.DataFrame(rows, columns=list(PUBLISHED_COLUMNS))


def published_accuracies(
    path: str | Path,
    experts: Iterable[str] | None = None,
    targets: Iterable[str] | None = None,
) -> pd.DataFrame:
    """The published table shaped as ``summary.expert_accuracies`` shapes fine-tuning results:
    target, regime (``full``), expert, accuracy, seconds (NaN: its cost was not measured here)."""
    table = read_published(path, experts, targets)
    return pd.DataFrame(
        {
            "target": table.target,
            "regime": PUBLISHED_REGIME,
            "expert": table.expert,
            "accuracy": table.test_accuracy,
            "seconds": math.nan,
        }
    )


def read_accuracies(
    finetune: Iterable[str | Path] | None = None,
    published: str | Path | None = None,
    experts: Iterable[str] | None = None,
    targets: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Per (target, regime, expert): accuracy and seconds, from the ground truth a job was given.

    finetune: the fine-tune CSVs (each expert's best over the learning-rate
    grid, ``summary.expert_accuracies``); published: the published table
    (``published_accuracies``, checked against `experts` and `targets` where
    they are given). Exactly one of the two.
    """
    if (finetune is None) == (published is None):
        raise ValueError("read_accuracies needs either the fine-tune CSVs or the published table")
    if published is not None:
        return published_accuracies(published, experts, targets)
    from .summary import expert_accuracies, read_finetune

    return expert_accuracies(read_finetune(finetune))


def _check_columns(path: Path, columns: list[str] | None) -> None:
    if not columns:
        raise GroundTruthError(f"{path} is empty: expected the header {','.join(PUBLISHED_COLUMNS)}")
    missing = [column for column in PUBLISHED_COLUMNS if column not in columns]
    unknown = [column for column in columns if column not in PUBLISHED_COLUMNS]
    twice = sorted({column for column in columns if columns.count(column) > 1})
    if missing or unknown or twice:
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)}")
        if twice:
            problems.append(f"column(s) given twice {', '.join(twice)}")
        raise GroundTruthError(
            f"{path}, line 1: {'; '.join(problems)}; expected exactly {', '.join(PUBLISHED_COLUMNS)}"
        )


def _accuracy(path: Path, line: int, row: dict[str, str]) -> float:
    text = row["test_accuracy"].strip()
    try:
        value = float(text)
    except ValueError:
        raise GroundTruthError(f"{path}, line {line}: test_accuracy {text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # also false for NaN
        raise GroundTruthError(
            f"{path}, line {line}: test_accuracy {text} is outside [0, 1] "
            "(accuracies are fractions, not percentages)"
        )
    return value

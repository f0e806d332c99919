"""Small atomic writers: a crashed job never leaves a file that looks finished."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping


def _tmp(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(path.name + ".tmp")


def write_json(path: str | Path, data: Any) -> None:
    path = Path(path)
    tmp = _tmp(path)
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_csv(path: str | Path, frame) -> None:
    """A pandas DataFrame as CSV (floats with 6 significant digits)."""
    path = Path(path)
    tmp = _tmp(path)
    frame.to_csv(tmp, index=False, float_format="%.6g")
    os.replace(tmp, path)


def write_rows(path: str | Path, rows: Iterable[Mapping[str, Any]], columns: list[str]) -> None:
    """Rows of plain values as CSV, like ``write_csv`` but without pandas.

    The workflow's short jobs (one per score and per fine-tuning) use it:
    importing pandas costs them 0.2-0.4 s each.
    """
    path = Path(path)
    tmp = _tmp(path)
    with tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_format(row[column]) for column in columns])
    os.replace(tmp, path)


def _format(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value

"""Files in and out: atomic writers, checked readers, and the error both name.

Writers put a file under a unique temporary name beside it and rename it
only when it is complete, so a crashed job (or a second process writing the
same file) never leaves a file that looks finished. Readers check what they
read and raise :class:`BadFileError`, which names the file, what is wrong
with it and what re-creates it; nothing here decides what is re-created.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Iterable, Mapping

log = logging.getLogger(__name__)


def _default_remake(path: Path) -> str:
    return "re-create it, or replace it with a good copy"


_remake: Callable[[Path], str] = _default_remake


def set_remake_hint(hint: Callable[[Path], str] | None) -> None:
    """What a :class:`BadFileError` tells the user to do about a file (``hint(path)``).

    A workflow job sets it once at its start (``zooselect.runtime.start_job``), since only
    there is it known that the workflow re-creates its outputs; None restores the default.
    """
    global _remake
    _remake = hint or _default_remake


class BadFileError(ValueError):
    """A file that cannot be used as what it claims to be: names it, the problem, and the remedy.

    The message is ``problem`` (prefixed with the path unless it names it already), then
    what re-creates the file (:func:`set_remake_hint`).
    """

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = Path(path)
        self.problem = problem
        named = problem if str(self.path) in problem else f"{self.path}: {problem}"
        super().__init__(f"{named}; {_remake(self.path)}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A unique temporary path beside ``path``; renamed to ``path`` when the block ends
    without error, removed when it raises. Two processes writing one file never share it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the file it becomes is not
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, name: str = ".lock", what: str = "another process") -> Iterator[Path]:
    """Hold an exclusive ``fcntl.flock`` on ``folder/name`` for the block, waiting (and saying
    so) while ``what`` holds it. The kernel drops it when the process ends, however it ends;
    the lock file is never deleted (another process may be waiting on it)."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting for %s using %s to finish (lock %s)", what, path.parent, path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)  # closing the only descriptor drops the lock


def write_json(path: str | Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n")


def read_json(path: str | Path, keys: Iterable[str] = ()) -> Any:
    """A JSON file's contents; with ``keys``, a mapping that must have them."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadFileError(path, "it does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadFileError(path, f"not a JSON file ({error})") from None
    keys = list(keys)
    if keys:
        if not isinstance(data, dict):
            raise BadFileError(path, f"expected a JSON object with {', '.join(keys)}, got {type(data).__name__}")
        missing = [key for key in keys if key not in data]
        if missing:
            raise BadFileError(path, f"lacks {', '.join(missing)}")
    return data


def read_table(path: str | Path, columns: Iterable[str], numeric: Iterable[str] = ()) -> "pd.DataFrame":  # noqa: F821
    """A CSV file that must have ``columns`` (and at least one row), those in ``numeric`` numbers."""
    import pandas as pd

    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise BadFileError(path, "it does not exist") from None
    except UnicodeDecodeError as error:
        raise BadFileError(path, f"not a text CSV file ({error})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise BadFileError(path, f"not a CSV table ({str(error).strip()})") from None
    columns = list(columns)
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns[:8]))
        raise BadFileError(path, f"lacks column(s) {', '.join(missing)} (it has {found}; expected {', '.join(columns)})")
    if frame.empty:
        raise BadFileError(path, "has no rows")
    for column in numeric:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            bad = frame[column][pd.to_numeric(frame[column], errors="coerce").isna() & frame[column].notna()]
            raise BadFileError(path, f"column {column} holds {bad.iloc[0]!r}, not a number")
    return frame


def write_csv(path: str | Path, frame) -> None:
    """A pandas DataFrame as CSV (floats with 6 significant digits)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def write_rows(path: str | Path, rows: Iterable[Mapping[str, Any]], columns: list[str]) -> None:
    """Rows of plain values as CSV, like ``write_csv`` but without pandas.

    The workflow's short jobs (one per score and per fine-tuning) use it:
    importing pandas costs them 0.2-0.4 s each.
    """
    with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_format(row[column]) for column in columns])


def _format(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value

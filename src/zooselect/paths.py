"""Wildcards recovered from the workflow's result paths.

The rules write one file per job under ``results/{stage}/...``; a script that
reads many of them (the summary, the stability summary, the cost accounting)
learns each file's wildcards from its path here, the one place that knows
how a path's last parts name them.
"""

from __future__ import annotations

from pathlib import Path


def trailing_wildcards(path: str | Path, names: tuple[str, ...]) -> dict[str, str]:
    """`names` read from the last ``len(names)`` parts of `path`, the file name without its suffix:
    ``trailing_wildcards("results/scores/dots/5shot/lfc.csv", ("target", "regime", "method"))``
    gives ``{"target": "dots", "regime": "5shot", "method": "lfc"}``."""
    parts = Path(path).with_suffix("").parts
    if len(parts) < len(names):
        raise ValueError(f"{path}: expected at least {len(names)} path parts ({'/'.join(names)})")
    return dict(zip(names, parts[len(parts) - len(names) :]))

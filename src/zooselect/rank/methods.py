"""The methods ``zooselect rank`` scores with: the default list, the check, and the scoring.

Only methods computable from a cache can run here (RSA and Domain
Similarity need the benchmark's probe network or source data); the scores
come from the benchmark's own code (:func:`zooselect.selection.score_zoo`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from ..userzoo import ZooError

DEFAULT_METHODS = ("logme", "lfc_centered", "gbc", "hscore_reg", "lfc")
"""Fast closed-form scores, LogME first: on the wide embedded benchmark
(config/embedded_wide.yaml, 11 targets) leave-one-target-out chose it in every fold
(results/tables/method_choice.csv); then LFC centred, GBC and regularised H-score, the
next best that never correlated negatively on a target, and the paper's LFC."""

UNAVAILABLE_INPUTS = {
    "probe_features": "a probe network trained on the target (run the benchmark for RSA)",
    "source_means": "each expert's source training data (run the benchmark for Domain Similarity)",
    "source_counts": "each expert's source training data",
}


def check_methods(names: Sequence[str]) -> list[str]:
    """The methods to score with, checked: known, computable from a cache, each named once."""
    from ..scores import get_method

    methods = []
    for name in names:
        method = get_method(name)  # unknown: ValueError listing the valid names
        missing = [UNAVAILABLE_INPUTS[i] for i in method.inputs if i in UNAVAILABLE_INPUTS]
        if missing:
            raise ZooError(f"method '{name}' needs {missing[0]}; `zooselect rank` computes only the caches")
        if name in methods:
            raise ZooError(f"method '{name}' is listed twice")
        methods.append(name)
    if not methods:
        raise ZooError("no methods given")
    return methods


def score_caches(
    caches: Sequence[dict], methods: Sequence[str], progress: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """method -> rows ``expert, score, seconds``, scored as the benchmark scores a zoo
    (``zooselect.selection.score_zoo``); a method that cannot score an expert gives NaN."""
    from tqdm import tqdm

    from ..selection import score_zoo

    bar = tqdm(total=len(methods) * len(caches), desc="scoring", unit="score", file=sys.stderr,
               disable=not progress)  # fmt: skip
    try:
        return score_zoo(caches, methods, failures="nan", progress=bar.update)
    finally:
        bar.close()

"""Scoring a zoo: every method on every expert's cache, as the workflow does.

``load_zoo_caches`` reads the experts' caches with what some methods need
besides them (RSA's probe features on the same images, Domain Similarity's
source class means); ``score_zoo`` runs each method on each cache and, for
methods that compare experts with each other (Feature Metrics), combines the
raw values within each zoo. Methods that rank by a per-expert scalar (source
accuracy, parameter count) take it from the cache's attributes. Scoring
jobs, the stability draws and the ``zooselect`` command all go through these
two functions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .cache import check_attrs, read_arrays, read_cache
from .runtime import Stopwatch
from .scores import ATTRIBUTE_INPUTS, Method, compute_score, get_method

SCORE_COLUMNS = ["expert", "score", "seconds"]
"""A score CSV's columns: ``score_zoo``'s rows, one per expert (``summary.read_scores`` reads them)."""


def load_zoo_caches(
    cache_paths: Iterable[str | Path],
    probe: Mapping[str, Any] | None = None,
    source_mean_paths: Sequence[str | Path] = (),
    check_layout: bool = False,
) -> list[dict[str, Any]]:
    """Each expert's cache, with ``probe_features`` and its source class means attached.

    probe: RSA's probe arrays (``probe_features`` and the ``indices`` they
    were computed on); they must be the cache's images. source_mean_paths:
    one file per cache, in the same order, or none. check_layout: each
    cache's attributes must name the target, regime and expert of its path
    (the workflow's ``.../{target}/{regime}/{expert}.h5``), and its source
    means the same expert: a file copied over another is refused, naming it.
    """
    caches = []
    source_mean_paths = list(source_mean_paths)
    for position, path in enumerate(cache_paths):
        path = Path(path)
        layout = {"target": path.parent.parent.name, "regime": path.parent.name, "expert": path.stem}
        cache = read_cache(path, expect=layout if check_layout else None)
        if probe is not None:
            if not np.array_equal(probe["indices"], cache["indices"]):
                raise ValueError(f"{path} and the probe were sampled from different images")
            cache["probe_features"] = probe["probe_features"]
        if source_mean_paths:
            # Their arrays join the cache; their attributes must not replace the cache's
            # (the experts' attributes, which source_accuracy and parameter_count score).
            means_path = source_mean_paths[position]
            means = read_arrays(means_path, required=("source_means",))
            check_attrs(means_path, means.pop("attrs"), {"expert": cache["expert"]} if check_layout else None)
            cache.update(means)
        caches.append(cache)
    return caches


def scoring_inputs(cache: Mapping[str, Any], method: Method) -> Mapping[str, Any]:
    """`cache` with the per-expert scalars `method` takes (``ATTRIBUTE_INPUTS``: source
    accuracy, parameter count) beside its arrays, taken from ``cache["attrs"]``
    unless the cache has them at its top level.

    Raises ValueError naming the expert when its cache lacks one of them.
    """
    wanted = [name for name in method.inputs if name in ATTRIBUTE_INPUTS and name not in cache]
    if not wanted:
        return cache
    attrs = cache.get("attrs", {})
    missing = [name for name in wanted if name not in attrs]
    if missing:
        raise ValueError(
            f"expert '{cache.get('expert', '?')}': its cache has no attribute {', '.join(map(repr, missing))}, "
            f"which method '{method.name}' needs (cache extraction writes it, from "
            "zooselect.models.expert_attributes)"
        )
    return {**cache, **{name: attrs[name] for name in wanted}}


def score_zoo(
    caches: Sequence[Mapping[str, Any]],
    methods: Iterable[str],
    options: Mapping[str, Mapping[str, Any]] | None = None,
    zoos: Mapping[str, Iterable[str]] | None = None,
    log: logging.Logger | None = None,
    failures: str = "raise",
    progress: Callable[[], Any] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """method -> rows ``{expert, score, seconds}``, one per cache.

    options: each method's options (defaults where absent). zoos: zoo name ->
    its experts; a method with an ``across_zoo`` step (Feature Metrics) is
    combined within each zoo, since each zoo is judged on its own (default:
    all caches form one zoo). failures: "raise" stops at a method that
    cannot score a cache (the benchmark: every score must exist); "nan"
    logs a warning and records NaN (a user's zoo, where one odd model should
    not stop the ranking). progress: called after each score (a progress bar).
    """
    if failures not in ("raise", "nan"):
        raise ValueError(f"failures must be 'raise' or 'nan', got {failures!r}")
    options = options or {}
    results = {}
    for name in methods:
        method = get_method(name)
        rows = []
        for cache in caches:
            watch = Stopwatch()
            try:
                score = compute_score(method.name, scoring_inputs(cache, method), options.get(name, {}))
            except (ValueError, np.linalg.LinAlgError, FloatingPointError) as error:
                if failures == "raise":
                    raise
                logging.getLogger(__name__).warning("%s could not score %s: %s", name, cache["expert"], error)
                score = math.nan
            rows.append({"expert": cache["expert"], "score": score, "seconds": watch.seconds})
            if log is not None:
                log.info("%s: %s = %s (%.3f s)", cache["expert"], method.name, score, watch.seconds)
            if progress is not None:
                progress()
        if method.across_zoo is not None:
            raw = {row["expert"]: row["score"] for row in rows}
            groups = zoos.values() if zoos else [list(raw)]
            final = {}
            for members in groups:
                final.update(method.across_zoo({expert: raw[expert] for expert in members if expert in raw}))
            for row in rows:
                row["score"] = float(final[row["expert"]])
        results[name] = rows
    return results

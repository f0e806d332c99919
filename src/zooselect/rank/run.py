"""``rank``: the steps of ``zooselect rank`` in order, each done by the module that owns it.

Load every expert (:func:`zooselect.userzoo.load_expert`), build the
target (:func:`zooselect.data.build_dataset`) and its selection sample
(:func:`zooselect.cache.sample_for_selection`), extract or reuse one cache
per expert (:mod:`zooselect.extraction`,
:func:`zooselect.cache.reusable_cache`), score them (:mod:`.methods`), make
the table (:mod:`.table`) and its chart (:func:`zooselect.figures.plot_ranking`),
fine-tune the top experts on request (:func:`zooselect.training.finetune`)
and write the outputs. What the package writes is listed in :mod:`zooselect.rank`.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..userzoo import LoadedExpert, ZooEntry, ZooError, load_expert
from .methods import DEFAULT_METHODS, check_methods, score_caches
from .table import ranking_table
from .target import TargetSpec

log = logging.getLogger(__name__)

REGIME = "full"
LOCK_FILE = ".zooselect-rank.lock"
_KEEP_PARAMETERS = 300_000_000  # experts kept in memory between planning and extraction, in total


@dataclass
class RankOptions:
    """Everything ``rank`` does besides its target and zoo (the CLI's flags)."""

    methods: Sequence[str] = DEFAULT_METHODS
    images_per_class: int = 50
    seed: int = 0
    finetune_top: int = 0
    finetune_epochs: int = 10
    finetune_lrs: Sequence[float] = (0.01,)
    batch_size: int = 32
    gradient_dim: int = 256
    gradient_ridge: float = 1000.0
    progress: bool = True
    workers: int = field(default_factory=lambda: min(8, os.cpu_count() or 1))  # image-decoding processes
    device: str = "auto"  # "auto" (a GPU where there is one), "cpu", "cuda", "cuda:1", ...


def _cache_spec(
    entry: ZooEntry, target: TargetSpec, options: RankOptions, gradient_dim: int, sample: str
) -> str:
    """What a cache was made from; a later run reuses it only when this is unchanged."""
    file = None
    if entry.origin == "checkpoint" and Path(entry.args["path"]).is_file():
        stat = Path(entry.args["path"]).stat()
        file = [stat.st_size, stat.st_mtime_ns]  # a checkpoint rewritten in place is re-extracted
    return json.dumps(
        {
            "expert": json.loads(entry.describe()),
            "file": file,
            "sample": sample,  # a digest of the sampled images and labels, and how they are prepared
            "target": json.loads(target.describe()),
            "images_per_class": options.images_per_class,
            "seed": options.seed,
            "gradient_dim": gradient_dim,
            "gradient_ridge": options.gradient_ridge if gradient_dim else None,
            "cache_format": 2,  # 2: streamed extraction, with the expert's attributes
        },
        sort_keys=True,
    )


def _finetune(
    expert: LoadedExpert, dataset, target: TargetSpec, options: RankOptions, out: Path
) -> list[dict[str, Any]]:
    """Fine-tune one expert at each learning rate (the benchmark's loop); its rows for the CSV."""
    import torch

    from ..data.stream import Images
    from ..io import write_rows
    from ..seeding import derive_seed
    from ..training import FINETUNE_CSV_COLUMNS, Schedule, epochs_to_steps, finetune

    train_images, test_images = Images(dataset.source("train")), Images(dataset.source("test"))
    model = expert.model.to(memory_format=torch.channels_last)
    rows = []
    for lr in options.finetune_lrs:
        schedule = Schedule(
            steps=epochs_to_steps(options.finetune_epochs, len(train_images), options.batch_size),
            batch_size=options.batch_size,
            lr=lr,
        )
        result = finetune(
            model, train_images, test_images, dataset.num_classes, schedule,
            seed=derive_seed(options.seed, "finetune", target.name, REGIME, expert.name, lr),
            description=f"fine-tuning {expert.name} lr={lr}", spec=expert.inputs, workers=options.workers,
        )  # fmt: skip
        rows.append({"expert": expert.name, "lr": lr, **result})
    write_rows(out / "finetune" / f"{expert.name}.csv", rows, FINETUNE_CSV_COLUMNS)  # the benchmark's CSV
    return rows


def rank(
    target: TargetSpec,
    entries: Sequence[ZooEntry],
    out: str | Path,
    options: RankOptions | None = None,
) -> "pd.DataFrame":  # noqa: F821
    """Score every expert of ``entries`` on ``target`` and write the outputs under ``out``.

    Returns the ranking table (also written to ``ranking.csv``). Bad input
    (a target, zoo entry or method that cannot be used) raises ValueError
    naming it, before any expert is extracted where that can be known.
    Two runs on one ``out`` take turns: each holds an ``fcntl`` lock on
    ``out/.zooselect-rank.lock`` while it works, and the second waits (saying so).
    """
    from ..io import folder_lock

    options = options or RankOptions()
    methods = check_methods(options.methods)  # bad methods stop before ``out`` is made
    with folder_lock(out, LOCK_FILE, what="another `zooselect rank`"):
        return _rank(target, entries, Path(out), options, methods)


def _rank(
    target: TargetSpec,
    entries: Sequence[ZooEntry],
    out: Path,
    options: RankOptions,
    methods: list[str],
) -> "pd.DataFrame":  # noqa: F821
    import torch
    from tqdm import tqdm

    from ..cache import read_cache, reusable_cache, sample_for_selection
    from ..data import build_dataset
    from ..data.stream import Images
    from ..devices import resolve_device
    from ..extraction import extract, write_extraction
    from ..figures import plot_ranking
    from ..gradients import supports_gradients
    from ..io import write_csv, write_json, write_rows
    from ..models.expert_attributes import expert_attributes, parameter_count
    from ..progress import progress_bars
    from ..runtime import Stopwatch
    from ..seeding import derive_seed
    from ..selection import SCORE_COLUMNS

    total = Stopwatch()
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ZooError("expert names must be unique")
    gradient_dim = options.gradient_dim if "lgc" in methods else 0
    bar = dict(file=sys.stderr, disable=not options.progress)
    device = resolve_device(options.device)
    log.info("running the experts on %s", device)

    # Load every expert first: a bad entry stops before the slow work, and
    # their input sizes decide the size the target's images are read at.
    loaded: dict[str, LoadedExpert | None] = {}
    inputs, infos = {}, {}
    kept = 0
    for entry in tqdm(entries, desc="loading experts", unit="expert", **bar):
        expert = load_expert(entry, options.seed)
        if gradient_dim and not supports_gradients(expert.model):
            raise ZooError(
                f"method 'lgc' needs per-sample gradients of the last convolution, which expert "
                f"'{entry.name}' ({entry.label()}) does not provide; leave lgc out"
            )
        inputs[entry.name], infos[entry.name] = expert.inputs, expert.info
        size = parameter_count(expert.model)
        loaded[entry.name] = expert if kept + size <= _KEEP_PARAMETERS else None  # else reloaded later
        kept += size if loaded[entry.name] else 0
        log.info("%s: %s, input %s", entry.name, entry.label(), expert.inputs.describe())
        del expert
    gc.collect()

    if target.kind == "url" and "download_dir" not in target.options:  # downloads go with the outputs
        target = TargetSpec(target.name, target.kind, {**target.options, "download_dir": str(out / "downloads")})
    with progress_bars(options.progress):  # the builders' bars ("checking images") too
        dataset = build_dataset(target.kind, derive_seed(options.seed, target.name), target.options)
    if dataset.num_classes < 2:
        raise ZooError(f"target {target.name} has {dataset.num_classes} class; at least 2 needed")
    split = {"train_indices": np.arange(len(dataset.y_train)), "shots": 0}
    indices, sample_seed = sample_for_selection(
        dataset.y_train, split, options.images_per_class, options.seed, target.name, REGIME
    )
    images = Images(dataset.source("train"), indices)
    log.info("target %s: %r; %d images sampled for selection", target.name, dataset, len(indices))
    sample_digest = images.fingerprint()

    cache_seconds: dict[str, float] = {}
    caches = []
    progress = tqdm(entries, desc="extracting caches", unit="expert", **bar)
    for entry in progress:
        progress.set_postfix_str(entry.name)
        path = out / "caches" / f"{entry.name}.h5"
        spec = _cache_spec(entry, target, options, gradient_dim, sample_digest + inputs[entry.name].describe())
        expect = {"expert": entry.name, "target": target.name, "regime": REGIME, "spec": spec}
        cache = reusable_cache(path, expect)
        if cache is None:
            expert = loaded[entry.name] or load_expert(entry, options.seed)
            # Kept experts wait on the CPU; one at a time on the device.
            expert.model.to(device, memory_format=torch.channels_last)
            extraction = extract(
                expert.model, images, dataset.num_classes, expert.inputs, gradient_dim, options.gradient_ridge,
                derive_seed(options.seed, "projection", target.name, REGIME, entry.name), options.workers,
            )  # fmt: skip
            write_extraction(
                path, extraction,
                attrs={
                    "expert": entry.name, "target": target.name, "regime": REGIME,
                    "images_per_class": options.images_per_class, "seed": sample_seed,
                    "gradient_dim": gradient_dim, "gradient_ridge": options.gradient_ridge,
                    "spec": spec, "input": inputs[entry.name].describe(),
                    **expert_attributes(expert.model, expert.info),
                },
            )  # fmt: skip
            expert.model.to("cpu")
            if loaded[entry.name] is None:
                del expert
                gc.collect()
            cache = read_cache(path, expect)
        cache_seconds[entry.name] = float(cache["attrs"].get("seconds", math.nan))
        caches.append(cache)
    progress.close()

    rows_by_method = score_caches(caches, methods, options.progress)
    for name, rows in rows_by_method.items():
        write_rows(out / "scores" / f"{name}.csv", rows, SCORE_COLUMNS)
    table = ranking_table(rows_by_method, {e.name: e.label() for e in entries})
    table["cache_seconds"] = [cache_seconds[e] for e in table["expert"]]

    finetuned: dict[str, list[dict[str, Any]]] = {}
    top = list(table["expert"][: max(0, options.finetune_top)])
    by_name = {e.name: e for e in entries}
    for name in tqdm(top, desc="fine-tuning top experts", unit="expert", **bar) if top else ():
        expert = loaded[name] or load_expert(by_name[name], options.seed)
        expert.model.to(device)
        with progress_bars(options.progress):
            finetuned[name] = _finetune(expert, dataset, target, options, out)
        expert.model.to("cpu")
    if finetuned:
        best = {name: max(r["test_accuracy"] for r in rows) for name, rows in finetuned.items()}
        table["finetune_accuracy"] = [best.get(e, math.nan) for e in table["expert"]]

    write_csv(out / "ranking.csv", table)
    plot_ranking(table, methods, out / "ranking.png")
    write_json(
        out / "rank.json",
        {
            "target": json.loads(target.describe()),
            "dataset": {
                "classes": dataset.classes,
                "train_images": int(len(dataset.y_train)),
                "test_images": int(len(dataset.y_test)),
                "image_size": int(dataset.image_size),
                "selection_images": int(len(indices)),
            },
            "experts": {
                e.name: {**json.loads(e.describe()), "input": inputs[e.name].describe(),
                         "loaded": {k: v for k, v in infos[e.name].items() if k in ("format", "arch", "library")}}
                for e in entries
            },  # fmt: skip
            "methods": methods,
            "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(options).items()},
            "finetuned": finetuned,
            "seconds": total.seconds,
        },
    )
    return table

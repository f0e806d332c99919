"""Rank a user's zoo on a user's target: ``zooselect rank``.

The same steps as the benchmark, on one target and a zoo from a zoo file
(:mod:`zooselect.userzoo`): build the target dataset with the data
registry (:func:`zooselect.data.build_dataset`), draw the selection sample
(:func:`zooselect.cache.sample_for_selection`), extract each expert's
penultimate features and source-head probabilities with its own
preprocessing into an HDF5 cache (:func:`zooselect.cache.write_cache`),
score every cache with the registry's methods
(:func:`zooselect.scores.compute_score`) and, on request, fine-tune the
top-ranked experts with the benchmark's loop
(:func:`zooselect.training.finetune`). Outputs, under the output folder:

- ``caches/{expert}.h5``: one cache per expert (reused by a later run with
  the same target, expert entry, sample size and seed);
- ``scores/{method}.csv``: ``expert, score, seconds``, as in the benchmark;
- ``ranking.csv`` and ``ranking.png``: the ranked table and its bar chart;
- ``finetune/{expert}.csv``: ``expert, lr, test_accuracy, seconds,
  train_loss`` for each fine-tuned expert;
- ``rank.json``: what was run (target, zoo, methods, sizes, seconds).

The ranking is ordered by the first method's score (larger is better);
``mean_rank`` averages each expert's rank under every method (unless the
method ``mean_rank`` is selected: its column, of the same name, is that
method's score).
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

from .userzoo import ZooEntry, LoadedExpert, ZooError, load_expert, read_yaml

log = logging.getLogger(__name__)

DEFAULT_METHODS = ("logme", "lfc_centered", "gbc", "hscore_reg", "lfc")
"""Fast closed-form scores, LogME first: on the wide embedded benchmark
(config/embedded_wide.yaml, 11 targets) leave-one-target-out chose it in every fold
(results/tables/method_choice.csv); then LFC centred, GBC and regularised H-score, the
next best that never correlated negatively on a target, and the paper's LFC."""

REGIME = "full"
UNAVAILABLE_INPUTS = {
    "probe_features": "a probe network trained on the target (run the benchmark for RSA)",
    "source_means": "each expert's source training data (run the benchmark for Domain Similarity)",
    "source_counts": "each expert's source training data",
}
SHORTHAND = {"imagefolder": "root", "csv": "path", "torchvision": "name"}
PATH_OPTIONS = ("root", "path", "download_dir", "cache_dir")  # cache_dir: download_dir's old name
_KEEP_PARAMETERS = 300_000_000  # experts kept in memory between planning and extraction, in total


@dataclass(frozen=True)
class TargetSpec:
    """The target dataset: a data-registry kind, its options and a name (used in seeds and files)."""

    name: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return json.dumps({"name": self.name, "kind": self.kind, "options": self.options}, sort_keys=True, default=str)


def _safe_name(text: str) -> str:
    name = "".join(c if c.isalnum() or c in "_-." else "_" for c in text).strip("._-")
    return name or "target"


def parse_target(spec: str) -> TargetSpec:
    """A target from ``--target``: a YAML file (``kind``, ``options``, optional ``name``, as a config
    target), ``imagefolder:PATH``, ``csv:PATH``, ``torchvision:NAME``, ``url:URL#sha256=HEX``, or a
    folder (an image folder). Relative paths in a YAML file are relative to its folder."""
    from .data import DATASET_KINDS

    path = Path(spec).expanduser()
    if path.suffix in (".yaml", ".yml") or path.is_file():
        data = read_yaml(path, "target spec")
        if not isinstance(data, dict) or "kind" not in data:
            raise ZooError(f"target spec {path}: expected a mapping with 'kind' (and 'options'), got {data!r}")
        unknown = sorted(set(data) - {"kind", "options", "name"})
        if unknown:
            raise ZooError(f"target spec {path}: unknown key(s) {', '.join(unknown)}; valid keys: kind, name, options")
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise ZooError(f"target spec {path}: 'options' must be a mapping, got {options!r}")
        base = path.parent.resolve()
        options = {
            key: (os.path.normpath(base / value) if key in PATH_OPTIONS and isinstance(value, str) and value
                  and not Path(value).expanduser().is_absolute() and "://" not in value else value)
            for key, value in options.items()
        }  # fmt: skip
        name = str(data.get("name") or path.stem)
        return _checked(TargetSpec(_safe_name(name), str(data["kind"]), options))
    kind, sep, value = spec.partition(":")
    if sep and kind == "url":
        url, _, fragment = value.partition("#sha256=")
        if not fragment:
            raise ZooError(f"target '{spec}': a url target needs its sha256: url:URL#sha256=HEX")
        stem = Path(url.split("?")[0].rstrip("/")).name.split(".")[0]
        return _checked(TargetSpec(_safe_name(stem), "url", {"url": url, "sha256": fragment}))
    if sep and kind in SHORTHAND and value:
        option = SHORTHAND[kind]
        if option in PATH_OPTIONS:
            value_path = Path(value).expanduser().resolve()
            stem = value_path.stem if option == "path" else value_path.name  # a manifest file, or a folder
            return _checked(TargetSpec(_safe_name(stem), kind, {option: str(value_path)}))
        return _checked(TargetSpec(_safe_name(value), kind, {option: value}))
    if path.is_dir():
        return _checked(TargetSpec(_safe_name(path.resolve().name), "imagefolder", {"root": str(path.resolve())}))
    if sep and kind in DATASET_KINDS:
        raise ZooError(f"target '{spec}': kind '{kind}' has no shorthand; write a YAML target spec")
    raise ZooError(
        f"target '{spec}' is neither a YAML file, a folder nor a shorthand "
        f"({', '.join(f'{k}:{v.upper()}' for k, v in SHORTHAND.items())}, url:URL#sha256=HEX)"
    )


def _checked(target: TargetSpec) -> TargetSpec:
    from .data import dataset_options, renamed_options

    try:
        valid = dataset_options(target.kind)
        target = TargetSpec(target.name, target.kind, renamed_options(target.kind, target.options, "target: "))
    except ValueError as error:
        raise ZooError(f"target: {error}") from None
    unknown = sorted(set(target.options) - set(valid))
    if unknown:
        raise ZooError(
            f"target: unknown option(s) {', '.join(unknown)} for dataset kind '{target.kind}'; "
            f"valid options: {', '.join(sorted(valid))}"
        )
    return target


def check_methods(names: Sequence[str], zoo_entries: Sequence[ZooEntry] = ()) -> list[str]:
    """The methods to score with, checked: known, computable from a cache, each named once."""
    from .scores import get_method

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


def supports_gradients(model) -> bool:
    """LGC needs the model's last convolution and a way to resume from it
    (zooselect's models, torchvision's ResNets and DenseNets)."""
    return all(hasattr(model, a) for a in ("last_conv", "split_at_last_conv", "features_from_last_conv"))


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


def extract_expert_cache(
    expert: LoadedExpert,
    images: "Images",  # noqa: F821
    num_classes: int,
    path: str | Path,
    attrs: dict[str, Any],
    gradient_dim: int = 0,
    gradient_ridge: float = 1000.0,
    gradient_seed: int = 0,
    workers: int = 0,
) -> None:
    """The benchmark's cache of one expert on the selection sample ``images``, prepared its own
    way, by the benchmark's extractor (:func:`zooselect.extraction.extract`)."""
    import torch

    from .cache import write_cache
    from .extraction import cache_attrs, extract
    from .models.expert_attributes import expert_attributes

    model = expert.model.to(memory_format=torch.channels_last)
    extraction = extract(
        model, images, num_classes, expert.inputs, gradient_dim, gradient_ridge, gradient_seed, workers
    )
    write_cache(
        path,
        features=extraction.features,
        probs=extraction.probs,
        labels=extraction.labels,
        indices=extraction.indices,
        gradients=extraction.gradients,
        attrs=cache_attrs(extraction, **attrs, **expert_attributes(expert.model, expert.info)),
    )


def score_caches(
    caches: Sequence[dict], methods: Sequence[str], progress: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """method -> rows ``expert, score, seconds``, scored as the benchmark scores a zoo
    (``zooselect.selection.score_zoo``); a method that cannot score an expert gives NaN."""
    from tqdm import tqdm

    from .selection import score_zoo

    bar = tqdm(total=len(methods) * len(caches), desc="scoring", unit="score", file=sys.stderr,
               disable=not progress)  # fmt: skip
    try:
        return score_zoo(caches, methods, failures="nan", progress=bar.update)
    finally:
        bar.close()


def ranking_table(
    rows_by_method: dict[str, list[dict[str, Any]]], labels: dict[str, str]
) -> "pd.DataFrame":  # noqa: F821
    """One row per expert, best first by the first method; each method's score and ``mean_rank``
    (the average rank over the methods, which breaks ties; left out when the method ``mean_rank``
    is one of them, its own column having that name)."""
    import pandas as pd

    methods = list(rows_by_method)
    table = pd.DataFrame({"expert": list(labels)})
    table["origin"] = [labels[e] for e in table["expert"]]
    for name in methods:
        scores = {row["expert"]: row["score"] for row in rows_by_method[name]}
        table[name] = [scores[e] for e in table["expert"]]
    ranks = table[methods].rank(ascending=False, method="average", na_option="bottom")
    table["_average_rank"] = ranks.mean(axis=1)
    table = table.sort_values([methods[0], "_average_rank"], ascending=[False, True], na_position="last", kind="stable")
    # The method mean_rank has its own column of that name: the average then only breaks ties.
    average = table.pop("_average_rank")
    if "mean_rank" not in methods:
        table["mean_rank"] = average
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


def format_table(table: "pd.DataFrame") -> str:  # noqa: F821
    """The table as aligned text, scores with 4 significant digits ("-" where an expert was not fine-tuned)."""

    def cell(value: Any, column: str) -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return "-" if column == "finetune_accuracy" else "nan"
            return f"{value:.4g}"
        return str(value)

    columns = list(table.columns)
    cells = [[cell(v, c) for v, c in zip(row, columns)] for row in table.itertuples(index=False)]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    left = {"expert", "origin"}

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) if c in left else v.rjust(w) for v, w, c in zip(values, widths, columns)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)])


def _load(entry: ZooEntry, seed: int) -> LoadedExpert:
    """``load_expert`` with the torch generator seeded by the expert's name: an expert with random
    weights gets the same weights in every run (and when reloaded), as in the workflow."""
    return load_expert(entry, seed)


def resolve_device(name: str) -> "torch.device":  # noqa: F821
    """The device to run the experts on: ``auto`` picks the first GPU where there is one."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ZooError(f"unknown device {name!r}: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ZooError(f"device {name!r} asked for, but torch sees no GPU")
    return device


def _finetune(
    expert: LoadedExpert, dataset, target: TargetSpec, options: RankOptions, out: Path
) -> list[dict[str, Any]]:
    """Fine-tune one expert at each learning rate (the benchmark's loop); its rows for the CSV."""
    import torch

    from .data.stream import Images
    from .io import write_rows
    from .seeding import derive_seed
    from .training import Schedule, epochs_to_steps, finetune

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
    columns = ["expert", "lr", "test_accuracy", "seconds", "train_loss"]  # the benchmark's fine-tune CSV
    write_rows(out / "finetune" / f"{expert.name}.csv", rows, columns)
    return rows


def _reusable_cache(path: Path, expect: dict[str, Any]) -> dict[str, Any] | None:
    """The cache at ``path`` when it was made from what ``expect`` says (its ``spec``, expert,
    target and regime) and reads back whole; else None, and the caller rebuilds it. A file that
    cannot be read (truncated, overwritten, another expert's) is treated as missing, with a warning."""
    from .cache import read_cache
    from .io import BadFileError

    if not path.is_file():
        return None
    try:
        cache = read_cache(path, {key: value for key, value in expect.items() if key != "spec"})
    except BadFileError as error:
        log.warning("cache %s cannot be used (%s); rebuilding it", path, error.problem)
        return None
    if cache["attrs"].get("spec") != expect["spec"]:
        log.info("%s: %s was made from other inputs or options; re-extracting it", expect["expert"], path)
        return None
    log.info("%s: reusing %s", expect["expert"], path)
    return cache


LOCK_FILE = ".zooselect-rank.lock"


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
    from .io import folder_lock

    check_methods((options or RankOptions()).methods)  # bad methods stop before ``out`` is made
    with folder_lock(out, LOCK_FILE, what="another `zooselect rank`"):
        return _rank(target, entries, Path(out), options)


def _rank(
    target: TargetSpec,
    entries: Sequence[ZooEntry],
    out: Path,
    options: RankOptions | None,
) -> "pd.DataFrame":  # noqa: F821
    from tqdm import tqdm

    from .cache import read_cache, sample_for_selection
    from .data import build_dataset
    from .data.stream import Images
    from .figures import plot_ranking
    from .io import write_csv, write_json, write_rows
    from .models.expert_attributes import parameter_count
    from .progress import progress_bars
    from .runtime import Stopwatch
    from .seeding import derive_seed

    options = options or RankOptions()
    out = Path(out)
    total = Stopwatch()
    methods = check_methods(options.methods)
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
        expert = _load(entry, options.seed)
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
        cache = _reusable_cache(path, expect)
        if cache is None:
            expert = loaded[entry.name] or _load(entry, options.seed)
            expert.model.to(device)  # kept experts wait on the CPU; one at a time on the device
            extract_expert_cache(
                expert, images, dataset.num_classes, path,
                attrs={
                    "expert": entry.name, "target": target.name, "regime": REGIME,
                    "images_per_class": options.images_per_class, "seed": sample_seed,
                    "gradient_dim": gradient_dim, "gradient_ridge": options.gradient_ridge,
                    "spec": spec, "input": inputs[entry.name].describe(),
                },
                gradient_dim=gradient_dim, gradient_ridge=options.gradient_ridge,
                gradient_seed=derive_seed(options.seed, "projection", target.name, REGIME, entry.name),
                workers=options.workers,
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
        write_rows(out / "scores" / f"{name}.csv", rows, ["expert", "score", "seconds"])
    table = ranking_table(rows_by_method, {e.name: e.label() for e in entries})
    table["cache_seconds"] = [cache_seconds[e] for e in table["expert"]]

    finetuned: dict[str, list[dict[str, Any]]] = {}
    top = list(table["expert"][: max(0, options.finetune_top)])
    by_name = {e.name: e for e in entries}
    for name in tqdm(top, desc="fine-tuning top experts", unit="expert", **bar) if top else ():
        expert = loaded[name] or _load(by_name[name], options.seed)
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

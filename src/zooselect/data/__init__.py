"""Datasets for the zoo benchmark: a registry of builders, splits, few-shot sampling, file I/O.

The embedded builders make a :class:`Dataset` of 32x32 uint8 RGB images from
data that installed packages ship or from a seeded generator: nothing is
downloaded. The real-data builders list image files (``imagefolder``,
``csv``), an archive at a URL verified by its sha256 (``url``) or a
``torchvision`` dataset class as a :class:`StreamedDataset`: a manifest,
every image checked once, the pixels left on disk and decoded when a job
streams them (:mod:`zooselect.data.stream`). Both kinds give their splits
as an ``ImageSource`` (``dataset.source("train")``). For all of
them the same ``seed`` and options give the same bytes, and labels are
``0 .. C-1`` in sorted class-name order. The
registry :data:`DATASET_KINDS` is the one place that knows the kind names;
:func:`check_dataset_options` checks a kind and its options without building
(the workflow's start-up check, and :func:`build_dataset`'s first step).

Importing this package does not import torch (nor the packages the builders
read from, until a builder runs).
"""

from __future__ import annotations

import inspect
import logging
import time
import warnings
from collections.abc import Callable, Mapping

import numpy as np

from ..options import close_matches
from .dataset import Dataset, StreamedDataset, load_dataset, save_dataset
from .files import check_csv_options, check_imagefolder_options, check_url_options, csv_manifest, imagefolder, url_archive
from .glyphs import check_font_glyphs_options, font_glyphs
from .packaged import check_digits_options, mnist, sklearn_digits
from .patterns import (
    check_colour_fields_options,
    check_gratings_options,
    check_noise_textures_options,
    check_polygons_options,
    colour_fields,
    gratings,
    noise_textures,
    polygons,
)
from .pictures import check_photo_patches_options, check_texture_crops_options, photo_patches, texture_crops
from .procedural import check_dots_options, check_shapes_options, dots, shapes
from .sampling import fewshot_indices, sample_per_class
from .torchvision_sets import check_torchvision_options, torchvision_dataset

__all__ = [
    "DATASET_KINDS",
    "Dataset",
    "StreamedDataset",
    "build_dataset",
    "check_dataset_options",
    "dataset_options",
    "renamed_options",
    "fewshot_indices",
    "load_dataset",
    "sample_per_class",
    "save_dataset",
]

log = logging.getLogger(__name__)

DATASET_KINDS: dict[str, Callable[..., Dataset | StreamedDataset]] = {
    "mnist": mnist,
    "font_glyphs": font_glyphs,
    "photo_patches": photo_patches,
    "texture_crops": texture_crops,
    "shapes": shapes,
    "sklearn_digits": sklearn_digits,
    "dots": dots,
    "gratings": gratings,
    "noise_textures": noise_textures,
    "polygons": polygons,
    "colour_fields": colour_fields,
    "imagefolder": imagefolder,
    "csv": csv_manifest,
    "url": url_archive,
    "torchvision": torchvision_dataset,
}

# Each kind's option check, which its builder runs first: called with every option of the
# builder (defaults filled in, ``seed`` left out), it reads no data and returns the number of
# classes where the options fix it (None where the data do), so a workflow stops at start-up.
OPTION_CHECKS: dict[str, Callable[..., int | None]] = {
    "mnist": check_digits_options,
    "font_glyphs": check_font_glyphs_options,
    "photo_patches": check_photo_patches_options,
    "texture_crops": check_texture_crops_options,
    "shapes": check_shapes_options,
    "sklearn_digits": check_digits_options,
    "dots": check_dots_options,
    "gratings": check_gratings_options,
    "noise_textures": check_noise_textures_options,
    "polygons": check_polygons_options,
    "colour_fields": check_colour_fields_options,
    "imagefolder": check_imagefolder_options,
    "csv": check_csv_options,
    "url": check_url_options,
    "torchvision": check_torchvision_options,
}


def dataset_options(kind: str) -> dict[str, object]:
    """The options a kind's builder takes, with their defaults (``seed`` excluded)."""
    builder = _builder(kind)
    params = list(inspect.signature(builder).parameters.values())[1:]
    return {p.name: p.default for p in params}


def _builder(kind: str) -> Callable[..., Dataset | StreamedDataset]:
    if kind not in DATASET_KINDS:
        raise ValueError(
            f"unknown dataset kind '{kind}'; valid kinds: {', '.join(sorted(DATASET_KINDS))}"
        )
    return DATASET_KINDS[kind]


# Options renamed, by kind: old name -> new name. The old name is still read, with a
# warning, so configs and target files written before keep working.
RENAMED_OPTIONS = {"url": {"cache_dir": "download_dir"}}  # not the HDF5 caches (zooselect.cache)


def renamed_options(kind: str, options: Mapping[str, object], where: str = "") -> dict[str, object]:
    """`options` with the old names of renamed options replaced by the new ones (warned about)."""
    options = dict(options)
    for old, new in RENAMED_OPTIONS.get(kind, {}).items():
        if old in options:
            if new in options:
                raise ValueError(f"{where}dataset kind '{kind}': give '{new}' only ('{old}' is its old name)")
            warnings.warn(
                f"{where}dataset option '{old}' of kind '{kind}' is now '{new}'; '{old}' will stop working",
                FutureWarning,
                stacklevel=2,
            )
            options[new] = options.pop(old)
    return options


def check_dataset_options(kind: str, options: Mapping[str, object] | None = None) -> int | None:
    """Check a kind and its options without building anything (nor reading any data).

    Returns the number of classes where the options fix it (``dots``' ``max_dots``,
    ``font_glyphs``' ``chars``), None where the data do (image folders, manifests, archives,
    torchvision). Raises ValueError for an unknown kind, an unknown option (naming the valid
    ones) or a bad option value (naming the option). A required option left unset (a
    ``url``'s ``sha256: null`` in config/paper.yaml, to be filled in before the first
    build) passes: the build refuses it, so a dry run can still plan such a config.
    """
    _builder(kind)
    options = renamed_options(kind, options or {})
    valid = dataset_options(kind)
    for name in options:
        if name not in valid:
            raise ValueError(
                f"unknown option '{name}' for dataset kind '{kind}'{close_matches(name, valid)}; "
                f"valid options: {', '.join(sorted(valid))}"
            )
    return OPTION_CHECKS[kind](**{**valid, **options})


def build_dataset(
    kind: str, seed: int, options: Mapping[str, object] | None = None
) -> Dataset | StreamedDataset:
    """Build the dataset ``kind`` with ``seed`` and builder ``options``.

    Raises ValueError for an unknown kind, an unknown option (naming the
    valid ones), a seed that is not a non-negative integer, or a bad option value.
    """
    builder = _builder(kind)
    options = renamed_options(kind, options or {})
    check_dataset_options(kind, options)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    start = time.perf_counter()
    ds = builder(int(seed), **options)
    log.info(
        "built %s (seed %d, %s): %r in %.2f s", kind, seed, options, ds, time.perf_counter() - start
    )
    return ds

"""Image files to a :class:`Dataset`: decoding, square resizing, split, and the checks they share.

The file-based sources (``imagefolder``, ``csv``, ``url``) list their images
as ``(path, class name, split)`` records and hand them to
:func:`dataset_from_files`; the ``torchvision`` source reuses
:func:`square_array`. Class names are sorted, so labels are ``0 .. C-1`` in
sorted class-name order whatever order the files were listed in.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from .dataset import Dataset, check_count, rng_for

log = logging.getLogger(__name__)

BAD_IMAGE_CHOICES = ("error", "skip")
SPLITS = ("train", "test")


class ImageFile(NamedTuple):
    """One listed image: its file, its class name, and its split (None: not given)."""

    path: Path
    label: str
    split: str | None = None


def require(name: str, value: object) -> None:
    """An option without a usable default must be given."""
    if value is None or value == "":
        raise ValueError(f"option '{name}' is required")


def check_image_options(
    image_size: object, test_fraction: object, on_bad_image: object, min_images_per_class: object
) -> None:
    """Validate the options every file-based source shares."""
    check_count("image_size", image_size, 1)
    check_count("min_images_per_class", min_images_per_class, 1)
    check_test_fraction(test_fraction)
    if on_bad_image not in BAD_IMAGE_CHOICES:
        raise ValueError(
            f"option 'on_bad_image' must be one of {', '.join(BAD_IMAGE_CHOICES)}, "
            f"got {on_bad_image!r}"
        )


def check_test_fraction(test_fraction: object) -> None:
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)):
        raise ValueError(f"option 'test_fraction' must be a number, got {test_fraction!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(
            f"option 'test_fraction' must lie strictly between 0 and 1, got {test_fraction}"
        )


def square_array(image: Image.Image, size: int) -> np.ndarray:
    """RGB uint8 (size, size, 3): scale the shorter side to ``size``, then crop the centre."""
    image = image.convert("RGB")
    w, h = image.size
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


def load_image(path: str | os.PathLike, size: int) -> np.ndarray:
    """Read one image file as RGB uint8 (size, size, 3), upright by its EXIF orientation."""
    with Image.open(path) as image:
        image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, still >= size
        return square_array(ImageOps.exif_transpose(image), size)


def _check_counts(
    files: Sequence[ImageFile], classes: Sequence[str], splits: Sequence[str | None], minimum: int
) -> None:
    counts = Counter((f.label, f.split) for f in files)
    for label in classes:
        for split in splits:
            n = counts[label, split]
            if n < minimum:
                where = f" in {split}" if split else ""
                raise ValueError(
                    f"class '{label}' has {n} image{'s' if n != 1 else ''}{where}; "
                    f"at least {minimum} needed (option 'min_images_per_class')"
                )


def _read_all(files: Sequence[ImageFile], size: int, on_bad_image: str) -> tuple[list, np.ndarray]:
    kept, arrays = [], []
    for f in tqdm(files, desc="reading images", file=sys.stderr, mininterval=10, disable=False):
        try:
            arrays.append(load_image(f.path, size))
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
            if on_bad_image == "error":
                raise ValueError(
                    f"cannot read image {f.path}: {e} (option on_bad_image: skip skips such files)"
                ) from e
            log.warning("skipping unreadable image %s: %s", f.path, e)
            continue
        kept.append(f)
    if len(kept) < len(files):
        log.warning(
            "skipped %d of %d images that could not be read", len(files) - len(kept), len(files)
        )
    x = np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8)
    return kept, x


def seeded_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test indices: ``round(test_fraction * n)`` of each class to test.

    Each class keeps at least one image in each split (a class with one image
    stays in train).
    """
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = min(max(round(test_fraction * len(idx)), 1), len(idx) - 1)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.concatenate(train), np.concatenate(test)


def dataset_from_files(
    kind: str,
    seed: int,
    files: Sequence[ImageFile],
    image_size: int = 32,
    test_fraction: float = 0.2,
    on_bad_image: str = "error",
    min_images_per_class: int = 2,
) -> Dataset:
    """Read ``files`` into a Dataset, split by their ``split`` or by a seeded stratified split.

    Either every file has a split ("train"/"test") or none has. Images are
    read in the order given (callers sort them); each split is then shuffled
    with a generator seeded by ``seed`` and ``kind``.
    """
    check_image_options(image_size, test_fraction, on_bad_image, min_images_per_class)
    classes = sorted({f.label for f in files})
    if len(classes) < 2:
        raise ValueError(
            f"found {len(classes)} class{'es' if len(classes) != 1 else ''}; need at least 2"
        )
    given = {f.split is not None for f in files}
    if given == {True, False}:
        raise ValueError("either every image has a split or none has")
    unknown = {f.split for f in files} - {*SPLITS, None}
    if unknown:
        raise ValueError(f"unknown split {sorted(unknown)}; valid splits: {', '.join(SPLITS)}")
    splits = SPLITS if given == {True} else (None,)
    _check_counts(files, classes, splits, min_images_per_class)
    files, x = _read_all(files, image_size, on_bad_image)
    _check_counts(files, classes, splits, min_images_per_class)  # skipped files may leave too few
    index = {name: i for i, name in enumerate(classes)}
    y = np.array([index[f.label] for f in files], dtype=np.int64)
    if given == {True}:
        split = np.array([f.split for f in files])
        tr, te = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
    else:
        tr, te = seeded_split(y, test_fraction, rng_for(kind, seed, "split"))
    tr = tr[rng_for(kind, seed, "order_train").permutation(len(tr))]
    te = te[rng_for(kind, seed, "order_test").permutation(len(te))]
    return Dataset(x[tr], y[tr], x[te], y[te], classes)

"""Image files to a manifest (:class:`StreamedDataset`): checking, split, and the checks they share.

The file-based sources (``imagefolder``, ``csv``, ``url``) list their images
as ``(path, class name, split)`` records and hand them to
:func:`dataset_from_files`, which reads every image once to check it and
keeps only its path, size and label: pixels are decoded later, on the fly
(:mod:`zooselect.data.stream`). Class names are sorted, so labels are
``0 .. C-1`` in sorted class-name order whatever order the files were listed in.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..progress import show_progress
from .dataset import StreamedDataset, check_count, rng_for, split_per_class

log = logging.getLogger(__name__)

BAD_IMAGE_CHOICES = ("error", "skip")
IMAGE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
"""What PIL raises for a file that is not a whole image."""
READ_THREADS = max(1, min(4, os.cpu_count() or 1))
"""Images checked at once while a dataset is prepared."""
CHECK_CHUNK = 1024
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


def check_image(path: Path) -> tuple[int, str]:
    """Read and decode one image file once: its size in bytes and a digest of its bytes.

    The decode runs at a reduced JPEG scale (it only has to prove the file
    is a whole image). Raises one of ``IMAGE_ERRORS`` for an unreadable file.
    """
    with open(path, "rb") as f:
        data = f.read()
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (64, 64))
        image.load()
        if image.width < 1 or image.height < 1:
            raise ValueError("image has no pixels")
    return len(data), hashlib.blake2b(data, digest_size=16).hexdigest()


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


def _check_all(
    files: Sequence[ImageFile], on_bad_image: str, threads: int, progress: bool
) -> tuple[list[ImageFile], list[int], list[str]]:
    """Check every image once (``threads`` at a time); stop at or skip the unreadable ones."""
    kept, sizes, digests = [], [], []

    def check(f: ImageFile):
        try:
            return check_image(f.path), None
        except IMAGE_ERRORS as error:
            return None, error

    bar = tqdm(total=len(files), desc="checking images", file=sys.stderr, mininterval=10, disable=not progress)
    # A chunk at a time, so the pending work (one future per image) does not grow with the dataset.
    with ThreadPoolExecutor(max(1, threads)) as pool:  # PIL decodes without holding the GIL
        for start in range(0, len(files), CHECK_CHUNK):
            chunk = files[start : start + CHECK_CHUNK]
            for f, (result, error) in zip(chunk, pool.map(check, chunk)):
                if error is not None:
                    if on_bad_image == "error":
                        raise ValueError(
                            f"cannot read image {f.path}: {error} (option on_bad_image: skip skips such files)"
                        )
                    log.warning("skipping unreadable image %s: %s", f.path, error)
                    continue
                kept.append(f)
                sizes.append(result[0])
                digests.append(result[1])
            bar.update(len(chunk))
    bar.close()
    if len(kept) < len(files):
        log.warning("skipped %d of %d images that could not be read", len(files) - len(kept), len(files))
    return kept, sizes, digests


def seeded_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test indices: ``round(test_fraction * n)`` of each class to test.

    Each class keeps at least one image in each split (a class with one image
    stays in train).
    """
    return split_per_class(labels, test_fraction, rng, np.unique(labels), keep=1)


def dataset_from_files(
    kind: str,
    seed: int,
    files: Sequence[ImageFile],
    image_size: int = 32,
    test_fraction: float = 0.2,
    on_bad_image: str = "error",
    min_images_per_class: int = 2,
) -> StreamedDataset:
    """A manifest of ``files``, split by their ``split`` or by a seeded stratified split.

    Every image is read once to check it (and to fingerprint its bytes);
    none is kept in memory. Either every file has a split ("train"/"test")
    or none has. Each split is shuffled with a generator seeded by ``seed``
    and ``kind``. ``image_size`` is the side the benchmark's own experts see
    these images at (hub experts use their own input size).
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
    files, sizes, digests = _check_all(files, on_bad_image, READ_THREADS, progress=show_progress())
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
    from .stream import FileSource  # imports torch: only when a dataset is built

    paths = [str(Path(f.path).resolve()) for f in files]
    digest = hashlib.blake2b(digest_size=16)
    for part, name in ((tr, "train"), (te, "test")):
        for i in part:
            digest.update(f"{name}\0{paths[i]}\0{files[i].label}\0{digests[i]}\n".encode())
    fingerprint = digest.hexdigest()

    def source(part: np.ndarray, name: str) -> FileSource:
        return FileSource([paths[i] for i in part], y[part], [sizes[i] for i in part], f"{fingerprint}/{name}")

    return StreamedDataset(source(tr, "train"), source(te, "test"), classes, image_size, fingerprint)

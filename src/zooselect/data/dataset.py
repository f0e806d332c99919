"""Datasets and their file format, and the split/cap rules every builder shares.

Two kinds of dataset share one interface (``classes``, ``y_train``,
``y_test``, ``image_size`` and ``source(split)``, an
:class:`~zooselect.data.stream.ImageSource` that reads pixels on demand):

- :class:`Dataset`: train and test images packed in uint8 arrays (the
  embedded builders' 32x32 images, made from packaged data or a seeded
  generator);
- :class:`StreamedDataset`: a manifest of images that stay on disk (image
  files, or the samples of a torchvision dataset class), each checked once
  when the dataset was prepared.

``save_dataset`` writes either as one ``.npz`` file (pixels, or the
manifest without pixels) and ``load_dataset`` reads it back. This module
never downloads or generates images.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io import BadFileError

log = logging.getLogger(__name__)

IMAGE_SIZE = 32
"""Side of every image the builders produce, in pixels."""


_ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(eq=False)
class Dataset:
    """A train/test pair of labelled images.

    ``x_*`` are uint8 arrays of shape (N, H, W, 3) (grayscale pictures are
    replicated to 3 channels; every builder here makes H = W = 32), ``y_*``
    are int64 arrays of shape (N,) with values in ``0 .. len(classes) - 1``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]

    def __post_init__(self) -> None:
        self.classes = [str(c) for c in self.classes]
        for split in ("train", "test"):
            x = getattr(self, f"x_{split}")
            y = getattr(self, f"y_{split}")
            if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
                raise ValueError(
                    f"x_{split} must be uint8 of shape (N, H, W, 3), got {x.dtype} {x.shape}"
                )
            if y.dtype != np.int64 or y.shape != (len(x),):
                raise ValueError(
                    f"y_{split} must be int64 of shape ({len(x)},), got {y.dtype} {y.shape}"
                )
            if len(y) and (y.min() < 0 or y.max() >= len(self.classes)):
                raise ValueError(
                    f"y_{split} has labels outside 0..{len(self.classes) - 1} "
                    f"({len(self.classes)} classes)"
                )
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"train and test images differ in shape: {self.x_train.shape[1:]} vs "
                f"{self.x_test.shape[1:]}"
            )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> int:
        """Side of the images, the input size of the benchmark's experts trained on them."""
        return int(self.x_train.shape[1])

    def source(self, split: str):
        """The images of ``split`` ("train" or "test") as an ImageSource."""
        from .stream import PackedSource

        return PackedSource(getattr(self, f"x_{_check_split(split)}"), getattr(self, f"y_{split}"))

    def __repr__(self) -> str:
        return (
            f"Dataset(train={len(self.y_train)}, test={len(self.y_test)}, "
            f"image={self.x_train.shape[1:]}, classes={self.classes})"
        )


def _check_split(split: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


@dataclass(eq=False)
class StreamedDataset:
    """A dataset whose images stay where they are: a manifest and two ImageSources.

    ``train`` and ``test`` are :class:`~zooselect.data.stream.FileSource` or
    :class:`~zooselect.data.stream.TorchvisionSource`; their labels are in
    memory, their pixels are read when asked for. ``image_size`` is the side
    the benchmark's own experts see the images at (resized and centre
    cropped); ``fingerprint`` digests the contents that were checked.
    """

    train: Any
    test: Any
    classes: list[str]
    image_size: int
    fingerprint: str

    def __post_init__(self) -> None:
        self.classes = [str(c) for c in self.classes]
        for split in ("train", "test"):
            labels = getattr(self, split).labels
            if len(labels) and (labels.min() < 0 or labels.max() >= len(self.classes)):
                raise ValueError(f"{split} labels fall outside 0..{len(self.classes) - 1}")

    @property
    def y_train(self) -> np.ndarray:
        return self.train.labels

    @property
    def y_test(self) -> np.ndarray:
        return self.test.labels

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def source(self, split: str):
        return getattr(self, _check_split(split))

    def __repr__(self) -> str:
        return (
            f"StreamedDataset(train={len(self.y_train)}, test={len(self.y_test)}, "
            f"{self.train.describe()} read at {self.image_size} px for the benchmark's experts, "
            f"classes={self.classes[:10]}{'...' if len(self.classes) > 10 else ''})"
        )


MANIFEST_FORMAT = "zooselect-manifest-1"


def _manifest_arrays(ds: StreamedDataset) -> dict[str, np.ndarray]:
    from .stream import FileSource, TorchvisionSource

    arrays = {
        "format": np.array(MANIFEST_FORMAT),
        "classes": np.array(ds.classes, dtype=np.str_),
        "image_size": np.array(ds.image_size, dtype=np.int64),
        "fingerprint": np.array(ds.fingerprint),
    }
    for split in ("train", "test"):
        source = getattr(ds, split)
        arrays[f"y_{split}"] = source.labels
        arrays[f"fingerprint_{split}"] = np.array(source.fingerprint())
        if isinstance(source, FileSource):
            arrays[f"paths_{split}"] = source.paths
            arrays[f"sizes_{split}"] = source.sizes
        elif isinstance(source, TorchvisionSource):
            arrays[f"positions_{split}"] = source.positions
            arrays[f"torchvision_{split}"] = np.array(json.dumps(source.spec, sort_keys=True))
        else:
            raise TypeError(f"cannot save a {type(source).__name__} in a manifest")
    return arrays


def save_dataset(path: str | os.PathLike, ds: Dataset | StreamedDataset) -> None:
    """Write ``ds`` to one compressed ``.npz`` file at ``path``: its pixels, or its manifest.

    The file is written under a temporary name in the same folder and then
    renamed, so an interrupted write never leaves a file that looks finished.
    """
    if isinstance(ds, StreamedDataset):
        arrays = _manifest_arrays(ds)
    else:
        arrays = {key: getattr(ds, key) for key in _ARRAY_KEYS}
        arrays["classes"] = np.array(ds.classes, dtype=np.str_)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("wrote %s (%r)", path, ds)


def _source_from(npz: Any, split: str):
    from .stream import FileSource, TorchvisionSource

    labels, fingerprint = npz[f"y_{split}"], str(npz[f"fingerprint_{split}"])
    if f"paths_{split}" in npz.files:
        return FileSource(npz[f"paths_{split}"], labels, npz[f"sizes_{split}"], fingerprint)
    spec = json.loads(str(npz[f"torchvision_{split}"]))
    return TorchvisionSource(spec, npz[f"positions_{split}"], labels, fingerprint)


def load_dataset(path: str | os.PathLike) -> Dataset | StreamedDataset:
    """Read a dataset written by :func:`save_dataset` (pixels or a manifest); a file that is not
    one raises :class:`zooselect.io.BadFileError`, naming it and what re-creates it."""
    path = Path(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except (EOFError, ValueError, zipfile.BadZipFile) as e:  # truncated, or not an .npz
        raise BadFileError(path, f"cannot read dataset file {path}: {e}") from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise BadFileError(path, "a single array, not a dataset's .npz archive")
    with npz:
        try:
            if "format" in npz.files:
                if str(npz["format"]) != MANIFEST_FORMAT:
                    raise ValueError(f"unknown format {str(npz['format'])!r}")
                return StreamedDataset(
                    _source_from(npz, "train"),
                    _source_from(npz, "test"),
                    [str(c) for c in npz["classes"]],
                    int(npz["image_size"]),
                    str(npz["fingerprint"]),
                )
            missing = [k for k in (*_ARRAY_KEYS, "classes") if k not in npz.files]
            if missing:
                raise BadFileError(path, f"not a dataset file: it lacks {', '.join(missing)}")
            arrays = {k: npz[k] for k in _ARRAY_KEYS}
            classes = [str(c) for c in npz["classes"]]
        except BadFileError:
            raise
        except KeyError as e:
            raise BadFileError(path, f"cannot read dataset file {path}: it lacks {e}") from e
        except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as e:
            raise BadFileError(path, f"cannot read dataset file {path}: {e}") from e
    return Dataset(**arrays, classes=classes)


# --- helpers shared by the builders -------------------------------------------------


def rng_for(kind: str, seed: int, stream: str) -> np.random.Generator:
    """The random generator for one use (``stream``) of one dataset kind.

    Streams are independent: e.g. a kind's "train" and "test" images come
    from different streams, so asking for more training images never
    changes the test images.
    """
    return np.random.default_rng([seed, zlib.crc32(kind.encode()), zlib.crc32(stream.encode())])


def check_count(name: str, value: object, minimum: int) -> int:
    """Validate an integer option (``train``, ``test``, ...) at the boundary."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"option '{name}' must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"option '{name}' must be at least {minimum}, got {value}")
    return int(value)


def check_split_sizes(train: object, test: object, num_classes: int) -> tuple[int, int]:
    """Each split needs at least two images per class."""
    return (
        check_count("train", train, 2 * num_classes),
        check_count("test", test, 2 * num_classes),
    )


def balanced_labels(n: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` labels in random order, each class ``n // num_classes`` or one more times."""
    return rng.permutation(np.arange(n, dtype=np.int64) % num_classes)


def gray_to_rgb(x: np.ndarray) -> np.ndarray:
    """(N, H, W) -> (N, H, W, 3) by repeating the channel."""
    return np.repeat(x[..., None], 3, axis=-1)


def stratified_subsample(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` items (all of them if fewer) in random order, classes in proportion.

    Every class keeps at least ``min(2, its count)`` items; the rest of ``n`` is
    shared in proportion to what each class has left (largest remainders get
    the leftover items, ties to the lower class).
    """
    labels = np.asarray(labels)
    if n >= len(labels):
        return rng.permutation(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.minimum(counts, 2)
    if quota.sum() > n:
        raise ValueError(f"cannot keep 2 images of each of {len(classes)} classes in {n} images")
    spare = counts - quota
    share = (n - quota.sum()) * spare / spare.sum()
    extra = np.floor(share).astype(np.int64)
    leftover = n - quota.sum() - extra.sum()
    order = np.lexsort((np.arange(len(classes)), -(share - extra)))
    extra[order[:leftover]] += 1
    quota += extra
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=q, replace=False)
        for c, q in zip(classes, quota)
    ]
    return rng.permutation(np.concatenate(chosen))


def stratified_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator, classes: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into train and test, ``test_fraction`` of every class to test.

    Each class puts ``round(test_fraction * count)`` items in test, but at
    least two in each split; a class with fewer than four items is an error.
    """
    counts = np.bincount(labels, minlength=len(classes))
    for c in range(len(classes)):
        if counts[c] < 4:
            raise ValueError(f"class '{classes[c]}' has {counts[c]} images; a train/test split needs at least 4")
    return split_per_class(labels, test_fraction, rng, range(len(classes)), keep=2)


def split_per_class(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator, class_ids: Iterable[int], keep: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: each class of ``class_ids``, shuffled by ``rng``, puts
    ``round(test_fraction * count)`` items in test but keeps at least ``keep`` in each split
    (a class of exactly ``keep`` items puts none in test; each class has at least ``keep``)."""
    train, test = [], []
    for c in class_ids:
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = min(max(round(test_fraction * len(idx)), keep), len(idx) - keep)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.concatenate(train), np.concatenate(test)


def split_and_cap(
    kind: str,
    seed: int,
    x: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    train: int,
    test: int,
    test_fraction: float = 0.2,
) -> Dataset:
    """A pool without a standard split: seeded stratified split, then caps, shuffled."""
    tr, te = stratified_split(y, test_fraction, rng_for(kind, seed, "split"), classes)
    tr = tr[stratified_subsample(y[tr], train, rng_for(kind, seed, "cap_train"))]
    te = te[stratified_subsample(y[te], test, rng_for(kind, seed, "cap_test"))]
    return Dataset(x[tr], y[tr], x[te], y[te], list(classes))

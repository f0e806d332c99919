"""HDF5 caches: what model selection reads of one expert on one target sample.

One file per (target, regime, expert) holds the penultimate features, the
source head's probabilities, the labels and the sampled indices (and, only
when a gradient method such as LGC is configured, the randomly projected
per-sample gradients under ``gradients``), with
attributes recording the layer, K (images per class sampled for selection),
the seed and the seconds extraction took. Score functions never read files:
``read_cache`` turns a file into the arrays they take, checking it: a
truncated, overwritten or mismatched file raises
:class:`zooselect.io.BadFileError` naming it; ``reusable_cache`` tells
whether a file already holds what a new extraction would write
(``zooselect rank`` reuses its caches; the workflow leaves that to Snakemake).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .io import BadFileError, atomic_path

log = logging.getLogger(__name__)

ARRAYS = ("features", "probs", "labels", "indices")
LAYER = "penultimate (global average pool before the classification layer)"


def write_cache(
    path: str | Path,
    features: np.ndarray,
    probs: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    attrs: dict[str, Any],
    gradients: np.ndarray | None = None,
) -> None:
    """Write the cache atomically (temporary name, then rename)."""
    arrays = {
        "features": np.asarray(features, dtype=np.float32),
        "probs": np.asarray(probs, dtype=np.float32),
        "labels": np.asarray(labels, dtype=np.int64),
        "indices": np.asarray(indices, dtype=np.int64),
    }
    if gradients is not None:
        arrays["gradients"] = np.asarray(gradients, dtype=np.float32)
    n = len(arrays["labels"])
    for name, array in arrays.items():
        if len(array) != n:
            raise ValueError(f"cache array '{name}' has {len(array)} rows, labels have {n}")
    write_arrays(path, arrays, {"layer": LAYER, **attrs})


def read_attrs(path: str | Path) -> dict[str, Any]:
    """A cache's attributes only (expert, target, regime, seconds, ...), without its arrays."""
    with _open(path) as h5:
        return {key: _plain(value) for key, value in h5.attrs.items()}


def read_cache(path: str | Path, expect: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The arrays of a cache (``features``, ``probs``, ``labels``, ``indices``,
    and ``gradients`` where it has them), its attributes under ``attrs``, and
    the expert's name under ``expert``.

    Checked: the arrays' shapes (features and probabilities 2-D, labels and
    indices 1-D, every array one row per sampled image), and that the
    attributes hold ``expect``'s values (e.g. the expert, target and regime
    its path names). Raises :class:`zooselect.io.BadFileError` naming the file.
    """
    path = Path(path)
    cache = read_arrays(path, required=ARRAYS)
    n = len(cache["labels"])
    if n == 0:
        raise BadFileError(path, f"cache {path} is empty (no sampled images)")
    for name, ndim in (("features", 2), ("probs", 2), ("labels", 1), ("indices", 1), ("gradients", 2)):
        if name in cache and (np.ndim(cache[name]) != ndim or len(cache[name]) != n):
            raise BadFileError(
                path, f"cache array '{name}' has shape {np.shape(cache[name])}, expected {ndim}-D with {n} rows"
            )
    check_attrs(path, cache["attrs"], expect)
    cache["expert"] = cache["attrs"].get("expert", path.stem)
    return cache


def reusable_cache(path: str | Path, expect: Mapping[str, Any]) -> dict[str, Any] | None:
    """The cache at ``path`` when it was made from what ``expect`` says (its ``spec``, expert,
    target and regime) and reads back whole; else None, and the caller rebuilds it. A file that
    cannot be read (truncated, overwritten, another expert's) is treated as missing, with a warning."""
    path = Path(path)
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


def check_attrs(path: str | Path, attrs: Mapping[str, Any], expect: Mapping[str, Any] | None) -> None:
    """Raise BadFileError naming ``path`` where ``attrs`` do not hold ``expect``'s values."""
    wrong = [
        f"{key} {attrs.get(key)!r} (expected {value!r})"
        for key, value in (expect or {}).items()
        if attrs.get(key) != value
    ]
    if wrong:
        raise BadFileError(path, f"it was made for another task or expert: {', '.join(wrong)}")


@contextlib.contextmanager
def _open(path: str | Path) -> Iterator[h5py.File]:
    """An HDF5 file open for reading; a missing, truncated or foreign file raises BadFileError."""
    path = Path(path)
    try:
        h5 = h5py.File(path, "r")
    except FileNotFoundError:
        raise BadFileError(path, "it does not exist") from None
    except OSError as error:  # truncated, overwritten, not HDF5
        raise BadFileError(path, f"not a readable HDF5 file ({_first_line(error)})") from None
    try:
        with h5:
            yield h5
    except (OSError, KeyError, TypeError, ValueError) as error:
        if isinstance(error, BadFileError):
            raise
        raise BadFileError(path, f"a damaged HDF5 file ({_first_line(error)})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def selection_sample(
    train_labels: np.ndarray,
    train_indices: np.ndarray,
    shots: int,
    images_per_class: int,
    seed: int,
) -> np.ndarray:
    """Indices (into the training set) of the images model selection may see.

    In a few-shot regime it is the few-shot training set itself; with the
    full training set, at most ``images_per_class`` (K) images per class,
    drawn with ``seed``. The test set is never sampled.
    """
    from .data import sample_per_class

    train_indices = np.asarray(train_indices, dtype=np.int64)
    if shots:
        return train_indices
    chosen = sample_per_class(train_labels[train_indices], images_per_class, seed)
    return train_indices[chosen]


def sample_for_selection(
    train_labels: np.ndarray,
    split: dict[str, Any],
    images_per_class: int,
    base_seed: int,
    target: str,
    regime: str,
) -> tuple[np.ndarray, int]:
    """(indices, seed) of a (target, regime)'s selection sample, from its regime split.

    Every expert's cache and RSA's probe call this, so they see the same images.
    With the full training set, a class with fewer than ``images_per_class``
    images in the sample is warned about, naming the target and the count (a
    few-shot regime's sample is its few-shot set by design).
    """
    seed = selection_seed(base_seed, target, regime)
    indices = selection_sample(train_labels, split["train_indices"], split["shots"], images_per_class, seed)
    if not split["shots"]:
        classes, counts = np.unique(np.asarray(train_labels)[indices], return_counts=True)
        fewest = int(np.argmin(counts))
        if counts[fewest] < images_per_class:
            log.warning(
                "target %s (%s): the selection sample has only %d training image%s of class %d "
                "(the fewest; %d per class asked for): the scores rest on that few",
                target, regime, counts[fewest], "" if counts[fewest] == 1 else "s",
                classes[fewest], images_per_class,
            )  # fmt: skip
    return indices, seed


def selection_seed(base_seed: int, target: str, regime: str) -> int:
    """The seed of a (target, regime)'s selection sample: the same for every expert and the probe."""
    from .seeding import derive_seed

    return derive_seed(base_seed, "selection", target, regime)


def write_arrays(path: str | Path, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    """An HDF5 file of named arrays and attributes, written under a unique temporary name,
    re-opened and compared with what was meant to be written, then renamed."""
    arrays = {name: np.asarray(array) for name, array in arrays.items()}
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            for name, array in arrays.items():
                h5.create_dataset(name, data=array)
            for key, value in attrs.items():
                h5.attrs[key] = value
        written = read_arrays(tmp, required=arrays)
        for name, array in arrays.items():
            if written[name].shape != array.shape or not np.array_equal(written[name], array, equal_nan=True):
                raise OSError(f"{tmp}: array '{name}' read back differs from what was written")
        if set(written["attrs"]) != set(attrs):
            raise OSError(f"{tmp}: attributes read back differ from what was written")


def read_arrays(path: str | Path, required: Iterable[str] = ()) -> dict[str, Any]:
    """Every array of an HDF5 file written by ``write_arrays``, attributes under ``attrs``.

    required: the arrays it must have (else BadFileError naming the file and them).
    """
    with _open(path) as h5:
        arrays: dict[str, Any] = {name: h5[name][()] for name in h5}
        arrays["attrs"] = {key: _plain(value) for key, value in h5.attrs.items()}
    missing = [name for name in required if name not in arrays]
    if missing:
        raise BadFileError(path, f"lacks array(s) {', '.join(missing)}")
    return arrays

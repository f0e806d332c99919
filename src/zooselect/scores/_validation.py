"""Input checks shared by the score functions.

Every score function validates its arrays here, at the boundary, so a bad
cache stops with one clear message instead of a silent NaN score. These
helpers only check and convert (to float64 / int64); they compute nothing.
"""

from __future__ import annotations

import numpy as np

# Softmax rows computed in float32 over ~1000 classes sum to 1 within ~1e-6;
# 1e-4 accepts those and still rejects logits or unnormalised scores.
PROBABILITY_ROW_ATOL = 1e-4


def check_features(features: np.ndarray, name: str = "features") -> np.ndarray:
    """Return `features` as a finite float64 (N, D) array with N >= 2 and D >= 1."""
    array = np.asarray(features)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, D); got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric; got dtype {array.dtype}")
    n, d = array.shape
    if n < 2:
        raise ValueError(f"{name} needs at least 2 samples; got N={n}")
    if d < 1:
        raise ValueError(f"{name} needs at least 1 dimension; got D={d}")
    array = array.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    return array


def check_labels(labels: np.ndarray, n_samples: int) -> np.ndarray:
    """Return `labels` as an int64 (N,) array of class ids in 0..C-1.

    C is taken as max(labels) + 1; a class id with no sample is allowed (it
    contributes nothing to any score). Labels must have an integer dtype:
    floats and booleans are rejected rather than silently rounded.
    """
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"labels must be a 1-D array (N,); got shape {array.shape}")
    if array.shape[0] != n_samples:
        raise ValueError(
            f"labels has {array.shape[0]} entries but there are {n_samples} samples"
        )
    if array.dtype.kind not in "iu":
        raise ValueError(
            f"labels must be integer class ids 0..C-1; got dtype {array.dtype}"
        )
    if array.size and array.min() < 0:
        raise ValueError(
            f"labels must be class ids 0..C-1; got a negative id {int(array.min())}"
        )
    return array.astype(np.int64, copy=False)


def check_probabilities(probs: np.ndarray, name: str = "probs") -> np.ndarray:
    """Return `probs` as a float64 (N, Cs) array of probability rows, N >= 2.

    Each row must be finite, non-negative and sum to 1 within
    PROBABILITY_ROW_ATOL (so logits or unnormalised scores are rejected).
    """
    array = check_features(probs, name=name)
    if (array < 0).any():
        raise ValueError(
            f"{name} must be probabilities; found a negative entry {array.min()!r}"
        )
    row_sums = array.sum(axis=1)
    bad = np.flatnonzero(np.abs(row_sums - 1.0) > PROBABILITY_ROW_ATOL)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name} rows must sum to 1 (softmax output); {bad.size} row(s) do not, "
            f"e.g. row {i} sums to {row_sums[i]!r}"
        )
    return array


def require_classes(n_classes: int, method: str, why: str) -> None:
    """Raise ValueError unless the labels hold at least 2 classes.

    `why` says what a single class breaks for `method`; the message reads
    "<method> needs at least 2 classes among the labels: <why>".
    """
    if n_classes < 2:
        raise ValueError(f"{method} needs at least 2 classes among the labels: {why}")


def present_classes(labels: np.ndarray, method: str, why: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The classes present in `labels`, each sample's index among them, and the class sizes.

    Class ids without samples are dropped (indices run 0..C-1 over the
    present classes); fewer than 2 present classes raise as `require_classes`.
    """
    classes, class_index, counts = np.unique(labels, return_inverse=True, return_counts=True)
    require_classes(classes.size, method, why)
    return classes, class_index, counts

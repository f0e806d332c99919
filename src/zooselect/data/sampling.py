"""Seeded per-class subsets of a label vector: few-shot training sets and capped samples.

Both functions return sorted indices into ``labels``; they never look at
images. For a fixed seed, each class's images are taken in the order of one
seeded permutation, so a smaller subset is contained in a larger one drawn
with the same seed (the 5-shot set lies inside the 20-shot set).
"""

from __future__ import annotations

import numpy as np

_FEWSHOT_STREAM = 0x5EED_F5
_PER_CLASS_STREAM = 0x5EED_C1


def _per_class_prefix(labels: np.ndarray, k: int, seed: int, stream: int) -> dict[int, np.ndarray]:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if len(labels) == 0:
        raise ValueError("labels is empty")
    rng = np.random.default_rng([seed, stream])
    return {c: rng.permutation(np.flatnonzero(labels == c))[:k] for c in np.unique(labels).tolist()}


def fewshot_indices(labels: np.ndarray, shots: int, seed: int) -> np.ndarray:
    """Sorted indices of exactly ``shots`` items of every class present in ``labels``.

    Raises ValueError naming the class when a class has fewer than ``shots`` items.
    """
    if shots < 1:
        raise ValueError(f"shots must be at least 1, got {shots}")
    chosen = _per_class_prefix(labels, shots, seed, _FEWSHOT_STREAM)
    for c, idx in chosen.items():
        if len(idx) < shots:
            raise ValueError(f"class {c} has only {len(idx)} images, fewer than shots={shots}")
    return np.sort(np.concatenate(list(chosen.values()))).astype(np.int64)


def sample_per_class(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``k`` items per class (all of a class with ``k`` or fewer)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    chosen = _per_class_prefix(labels, k, seed, _PER_CLASS_STREAM)
    return np.sort(np.concatenate(list(chosen.values()))).astype(np.int64)

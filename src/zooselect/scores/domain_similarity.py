"""Domain Similarity: Earth Mover's Distance between source and target class means.

Cui et al., "Large Scale Fine-Grained Categorization and Domain-Specific
Transfer Learning", CVPR 2018.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from zooselect.scores._validation import check_features, check_labels


def domain_similarity(
    features: np.ndarray,
    labels: np.ndarray,
    source_means: np.ndarray,
    source_counts: np.ndarray,
    gamma: float = 0.01,
    min_images: int = 5,
) -> float:
    """exp(−γ · EMD) between the class-mean features of the expert's source and of the target.

    Each domain is a weighted set of points: the mean feature of each class
    (under the expert), weighted by the class's image count (normalised to
    sum to 1). The ground distance is Euclidean; EMD is solved exactly with
    POT (``ot.emd2``). Source classes with fewer than ``min_images`` images
    are dropped, as in the paper.

    features (N, D), labels (N,): the expert on the sampled target images.
    source_means (Cs, D), source_counts (Cs,): the expert on its own source
    training images (the union of sources for a generic expert).
    Larger (closer to 1) means the source domain is nearer the target's.
    """
    ot = _import_pot()

    f = check_features(features)
    y = check_labels(labels, len(f))
    means = check_features(source_means, "source_means")
    counts = np.asarray(source_counts, dtype=np.float64)
    if means.shape[1] != f.shape[1]:
        raise ValueError(
            f"source_means have {means.shape[1]} dimensions, features {f.shape[1]}"
        )
    if counts.shape != (len(means),):
        raise ValueError(
            f"source_counts must have shape ({len(means)},), got {counts.shape}"
        )
    if gamma <= 0:
        raise ValueError(f"gamma must be positive, got {gamma}")
    keep = counts >= min_images
    if not keep.any():
        raise ValueError(f"no source class has at least min_images={min_images} images")
    means, counts = means[keep], counts[keep]

    classes = np.unique(y)
    target_means = np.stack([f[y == c].mean(axis=0) for c in classes])
    target_counts = np.array([(y == c).sum() for c in classes], dtype=np.float64)
    cost = np.sqrt(((means[:, None, :] - target_means[None, :, :]) ** 2).sum(-1))
    distance = ot.emd2(counts / counts.sum(), target_counts / target_counts.sum(), cost)
    return float(np.exp(-gamma * distance))


def _import_pot():
    """POT, imported on first use so that importing the registry stays light.

    POT probes every array backend it knows on import; its torch backend
    alone costs about 2.5 s in a process that has not imported torch (a
    scoring job), longer than Domain Similarity's scoring. EMD here runs on
    numpy arrays, so where torch is not loaded yet the torch, JAX, TensorFlow
    and CuPy backends are left out (POT's own switches; set them yourself
    to override).
    """
    if "ot" not in sys.modules and "torch" not in sys.modules:
        for backend in ("PYTORCH", "JAX", "TENSORFLOW", "CUPY"):
            os.environ.setdefault(f"POT_BACKEND_DISABLE_{backend}", "1")
    import ot

    return ot

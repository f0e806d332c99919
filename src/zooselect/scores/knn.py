"""k-NN: leave-one-out k-nearest-neighbour accuracy of the target labels (a later-work method).

Reference: M. Sorkhei, C. Matsoukas, J. Fredin Haslum, E. Konuk, K. Smith.
"k-NN as a Simple and Effective Estimator of Transferability", TMLR 2025
(arXiv:2503.18528): the k-NN evaluation used for self-supervised features,
applied to an expert's target features, predicts fine-tuning better than the
dedicated transferability scores they compared.

Memory stays bounded: the N x N distances are never held, only blocks of
rows (about 32 MB each). Never reads files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from zooselect.scores._validation import check_features, check_labels, present_classes
from zooselect.scores.parc import _check_int

DISTANCES = ("cosine", "euclidean")


def _check_distance(distance: object) -> str:
    if distance not in DISTANCES:
        raise ValueError(
            f"distance must be one of {', '.join(DISTANCES)}; got {distance!r}"
        )
    return str(distance)


def check_knn_options(options: Mapping[str, Any]) -> None:
    """A config's knn options, checked before any cache exists (the registry's hook)."""
    if "k" in options:
        _check_int(options["k"], "k", 1)
    if "distance" in options:
        _check_distance(options["distance"])
# Entries of the distance matrix computed per block: rows per block = this / N.
_BLOCK_ELEMENTS = 1 << 22


def _similarity_terms(
    feats: np.ndarray, distance: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """What a block's similarities are computed from: points, and the euclidean offsets.

    For a row block A of `points`, the similarity A points^T (cosine, on
    unit-norm rows) or 2 A points^T - offsets (euclidean, offsets = ||b||^2)
    is larger for nearer neighbours, in the same order as the distance
    (1 - a.b for cosine; ||a - b||^2 less the row's own ||a||^2). An all-zero
    row under cosine has no direction: its similarity to every image is 0.
    """
    if distance == "cosine":
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        return np.divide(feats, norms, out=np.zeros_like(feats), where=norms > 0), None
    return feats, np.einsum("ij,ij->i", feats, feats)


def knn(
    features: np.ndarray, labels: np.ndarray, k: int = 20, distance: str = "cosine"
) -> float:
    r"""Leave-one-out k-NN accuracy: the fraction of images whose k nearest other images vote their class.

    For each target image i (N images, features x_i), its k nearest neighbours
    among the other N - 1 images under `distance` vote with equal weight; the
    prediction is the class with the most votes, a tie going to the tied
    class whose member among the k is nearest to x_i. The score is
    (1/N) sum_i [prediction_i = y_i].

    - cosine: d(a, b) = 1 - a.b / (||a|| ||b||) (an all-zero feature vector
      has similarity 0 to every image); invariant to scaling each image's
      features by a positive factor and to rotations.
    - euclidean: d(a, b) = ||a - b||; invariant to translation, rotation and
      a common scaling of all features.

    Our choices, where the paper's method leaves them to the user: the
    default k = 20 and cosine distance are those of the k-NN evaluation of
    self-supervised features the paper builds on (unweighted votes here); k
    is capped at N - 1 (with fewer images every other image votes); leaving
    each image out is how the sample serves as its own evaluation set
    (no split of the few selection images); ties in the votes are broken by
    the nearest neighbour, which keeps the score independent of how classes
    are numbered. Distances are compared in float64; among neighbours
    exactly equidistant at the k-th place (duplicate images), which ones
    vote is deterministic but unspecified.

    Cost: O(N^2 D) time, O(N D + 32 MB) memory (rows in blocks).

    Parameters
    ----------
    features : (N, D) array of an expert's features of N target images.
    labels : (N,) integer array, at least 2 classes present.
    k : int >= 1, the number of neighbours that vote.
    distance : "cosine" or "euclidean".

    Returns
    -------
    float in [0, 1]; larger means "fine-tune this expert".
    """
    feats = check_features(features)
    labs = check_labels(labels, feats.shape[0])
    k = _check_int(k, "k", 1)
    _check_distance(distance)
    _, y, counts = present_classes(
        labs, "k-NN", "every image would be classified correctly"
    )
    n = feats.shape[0]
    n_classes = counts.size
    k = min(k, n - 1)
    points, offsets = _similarity_terms(feats, distance)

    correct = 0
    block = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        local = np.arange(rows.size)
        similar = (
            points[rows] @ points.T
        )  # in place from here: one B x N block at a time
        if offsets is not None:
            similar *= 2.0
            similar -= offsets
        similar[local, rows] = -np.inf  # leave the image itself out
        nearest = np.argpartition(similar, n - k, axis=1)[:, n - k :]
        # The k neighbours nearest first, so that a tie goes to the nearest tied class.
        order = np.argsort(
            -np.take_along_axis(similar, nearest, axis=1), axis=1, kind="stable"
        )
        voters = y[np.take_along_axis(nearest, order, axis=1)]
        votes = np.bincount(
            np.repeat(local, k) * n_classes + voters.ravel(),
            minlength=rows.size * n_classes,
        ).reshape(rows.size, n_classes)
        tied = np.take_along_axis(votes, voters, axis=1) == votes.max(
            axis=1, keepdims=True
        )
        predicted = voters[local, np.argmax(tied, axis=1)]
        correct += int(np.count_nonzero(predicted == y[rows]))
    return correct / n

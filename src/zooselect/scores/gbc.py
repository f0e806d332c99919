"""GBC, the Gaussian Bhattacharyya Coefficient (a later-work method).

Reference: M. Pándy, A. Agostinelli, J. Uijlings, V. Ferrari, T. Mensink.
"Transferability Estimation using Bhattacharyya Class Separability",
CVPR 2022.

Class overlap in the expert's (PCA-reduced) feature space, with one
spherical Gaussian per class. Never reads files.
"""

from __future__ import annotations

import numpy as np

from zooselect.scores._validation import check_features, check_labels, present_classes
from zooselect.scores.parc import _check_int, principal_component_scores

# A class variance is floored at this fraction of the mean per-dimension
# variance of all images: only classes whose images coincide to rounding (e.g.
# duplicated images) reach it, and it keeps the score scale-invariant (an
# absolute floor would not be).
VARIANCE_FLOOR = 1e-10


def gbc(features: np.ndarray, labels: np.ndarray, dims: int = 64) -> float:
    r"""Gaussian Bhattacharyya Coefficient: minus the summed pairwise overlap of the classes.

    1. Z = PCA of the features F (N x D) to k = min(dims, rank) components
       (`principal_component_scores`; k < dims when N - 1 or D is smaller).
    2. Per class c (n_c images Z_c): mean mu_c (k,) and a spherical variance
       sigma_c^2 = ||Z_c - mu_c||_F^2 / (n_c k), the mean over the k dimensions
       of the maximum-likelihood (1/n_c) per-dimension variance, floored at
       VARIANCE_FLOOR times the mean per-dimension variance of all of Z.
    3. Bhattacharyya distance of N(mu_c, sigma_c^2 I_k) and N(mu_c', sigma_c'^2 I_k),
       with s = (sigma_c^2 + sigma_c'^2) / 2:

           BD(c, c') = ||mu_c - mu_c'||^2 / (8 s) + (k / 2) log(s / (sigma_c sigma_c'))

       (the general 1/8 dmu^T S^-1 dmu + 1/2 log(det S / sqrt(det S_c det S_c'))
       with S = s I_k).
    4. GBC = - sum over ordered pairs c != c' of exp(-BD(c, c')), i.e. each
       unordered pair counted twice, as in the paper.

    GBC does not change under rotation, translation or scaling of the
    features (the floor is relative) nor under relabelling of the classes.

    Parameters
    ----------
    features : (N, D) array
        Penultimate-layer features of the target images under one expert.
    labels : (N,) integer array
        Target class ids; at least 2 classes present, each with at least 2
        images (a variance cannot be estimated from one image). A class of 2
        images works; if its 2 feature vectors coincide its variance takes the
        floor and its overlap with every other class is ~0.
    dims : int >= 1
        PCA dimension (the paper's 64).

    Returns
    -------
    float in [-C(C-1), 0]; larger (closer to 0) means less overlap between
    the classes, i.e. "fine-tune this expert".

    Raises
    ------
    ValueError
        On bad shapes, NaN/inf features, non-integer labels, fewer than 2
        classes, a class with a single image, or constant features (no
        principal component with non-zero variance).
    """
    feats = check_features(features)
    labs = check_labels(labels, feats.shape[0])
    dims = _check_int(dims, "dims", 1)
    classes, y, counts = present_classes(labs, "GBC", "it measures the overlap between classes")
    if counts.min() < 2:
        lonely = int(classes[np.argmin(counts)])
        raise ValueError(
            f"GBC needs at least 2 images per class to estimate a variance; "
            f"class {lonely} has 1"
        )
    scores = principal_component_scores(feats, dims)
    n, k = scores.shape
    if k == 0:
        raise ValueError(
            "GBC is undefined: the features are constant (no principal "
            "component with non-zero variance)"
        )

    n_classes = classes.size
    means = np.zeros((n_classes, k))
    np.add.at(means, y, scores)
    means /= counts[:, None]
    squared_deviation = np.zeros(n_classes)
    np.add.at(squared_deviation, y, np.sum((scores - means[y]) ** 2, axis=1))
    variances = squared_deviation / (counts * k)
    floor = VARIANCE_FLOOR * float(np.sum(scores**2)) / (n * k)
    variances = np.maximum(variances, floor)

    pooled = 0.5 * (variances[:, None] + variances[None, :])  # s, (C, C)
    from scipy.spatial import distance  # lazy: keeps importing the registry light

    mean_term = distance.cdist(means, means, "sqeuclidean") / (8.0 * pooled)
    log_var = np.log(variances)
    variance_term = (
        0.5 * k * (np.log(pooled) - 0.5 * (log_var[:, None] + log_var[None, :]))
    )
    coefficients = np.exp(-(mean_term + variance_term))
    np.fill_diagonal(coefficients, 0.0)
    return float(-coefficients.sum())

"""PARC, the Pairwise Annotation Representation Comparison (a later-work method).

Reference: D. Bolya, R. Mittapalli, J. Hoffman. "Scalable Diverse Model
Selection for Accessible Transfer Learning", NeurIPS 2021.

Also home of `principal_component_scores`, the exact, deterministic PCA that
PARC and GBC share. Nothing here reads files.
"""

from __future__ import annotations

import numpy as np

from zooselect.scores._validation import check_features, check_labels, present_classes

# Rows of the N x N correlation matrix computed per block in `parc`: bounds the
# extra memory to ROW_BLOCK * N floats on top of the N(N-1)/2 pairs kept.
_ROW_BLOCK = 512


def _check_int(value: object, name: str, minimum: int) -> int:
    """Return `value` as an int >= minimum; reject bools, floats and strings."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}")
    return int(value)


def principal_component_scores(features: np.ndarray, dims: int) -> np.ndarray:
    r"""Exact PCA: the N x k scores of the centred features on their top k principal axes.

    With X = F - mean(F) (N x D), the principal axes are the eigenvectors of
    X^T X (computed from the smaller of X^T X and X X^T) in decreasing order of
    eigenvalue, and the scores are X V_k (N x k). k = min(dims, r) where r is
    the numerical rank of X: axes whose eigenvalue is at most
    ``max(N, D) * eps * largest eigenvalue`` are dropped, because their
    "variance" is float64 rounding noise and any later standardisation would
    blow that noise up to unit variance. In exact arithmetic r <= min(N - 1, D).
    So fewer than `dims` columns come back when N - 1 or D (or the rank of the
    features) is smaller, and an N x 0 array for constant features.

    Signs are fixed deterministically: each axis is oriented so that its
    largest-magnitude loading (first one on ties) is positive, the convention of
    scikit-learn's full-SVD PCA (>= 1.5). No randomness is involved.

    Parameters
    ----------
    features : (N, D) array, validated with `check_features` (float64, finite).
    dims : int >= 1, the most components to keep.

    Returns
    -------
    (N, k) float64 array of principal-component scores, columns centred, in
    decreasing order of variance.
    """
    feats = check_features(features)
    dims = _check_int(dims, "dims", 1)
    centred = feats - feats.mean(axis=0, keepdims=True)
    n, d = centred.shape
    if n <= d:
        # Eigenvectors u of X X^T give the axes X^T u / sqrt(eigenvalue).
        eigenvalues, vectors = np.linalg.eigh(centred @ centred.T)
    else:
        eigenvalues, vectors = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, vectors = eigenvalues[order], vectors[:, order]
    largest = eigenvalues[0] if eigenvalues.size else 0.0
    if not largest > 0:
        return np.zeros((n, 0))
    tolerance = max(n, d) * np.finfo(np.float64).eps * largest
    k = min(dims, int(np.count_nonzero(eigenvalues > tolerance)))
    eigenvalues, vectors = eigenvalues[:k], vectors[:, :k]
    axes = centred.T @ vectors / np.sqrt(eigenvalues) if n <= d else vectors
    flip = axes[np.argmax(np.abs(axes), axis=0), np.arange(k)] < 0
    axes[:, flip] *= -1.0
    return centred @ axes


def _upper_triangle_of_row_correlations(rows: np.ndarray) -> np.ndarray:
    """Entries i < j of the Pearson correlation matrix of the rows, row-major order.

    `rows` must already be centred and scaled to unit norm row-wise, so the
    correlation is a dot product. Built block by block: never holds N x N.
    """
    n = rows.shape[0]
    out = np.empty(n * (n - 1) // 2)
    position = 0
    for start in range(0, n - 1, _ROW_BLOCK):
        stop = min(start + _ROW_BLOCK, n - 1)
        block = rows[start:stop] @ rows.T
        for offset, i in enumerate(range(start, stop)):
            length = n - 1 - i
            out[position : position + length] = block[offset, i + 1 :]
            position += length
    return out


def parc(
    features: np.ndarray, labels: np.ndarray, dims: int = 32, seed: int = 0
) -> float:
    r"""PARC: Spearman correlation between the feature and label dissimilarity matrices, x 100.

    With F (N x D) the expert's features of the N target images and y (N,)
    their labels:

    1. Z = PCA of F to k = min(dims, rank) components
       (`principal_component_scores`: exact, deterministic signs; k < dims when
       N - 1 or D is smaller than dims);
    2. standardise every component to zero mean and unit variance;
    3. RDM_F = 1 - corrcoef(rows of Z), the N x N Pearson dissimilarity of
       images i and j across their k standardised components;
    4. RDM_Y = 1 - corrcoef(rows of the one-hot labels L, N x C over the C
       classes present): 0 for a same-class pair, 1 + 1/(C - 1) otherwise;
    5. PARC = 100 * Spearman(RDM_F[i, j], RDM_Y[i, j] for i < j).

    The diagonal is excluded. Because RDM_Y takes two values, its ranks are an
    affine function of the indicator "i and j in different classes", so the
    Spearman correlation is the Pearson correlation of the average ranks of
    RDM_F with that indicator; this is what is computed (identical to
    ``scipy.stats.spearmanr``). Time O(N^2 k + M log M), memory O(M) for the
    M = N(N-1)/2 pairs: quadratic in N, so use it on the sampled selection set.

    Parameters
    ----------
    features : (N, D) array
        Penultimate-layer features of the target images under one expert.
    labels : (N,) integer array
        Target class ids in 0..C-1; at least 2 classes present, and at least
        one class with 2 or more images (otherwise no pair shares a class and
        the correlation is undefined).
    dims : int >= 2
        PCA dimension (the paper's 32). At least 2 components with non-zero
        variance are needed: the correlation of two 1-component rows is
        undefined.
    seed : int
        Accepted for interface stability and ignored: the PCA here is exact
        and deterministic (the authors' code used a seeded randomized PCA), so
        PARC has no randomness.

    Returns
    -------
    float in [-100, 100]; larger means images of one class have more similar
    features than images of different classes, i.e. "fine-tune this expert".

    Raises
    ------
    ValueError
        On bad shapes, NaN/inf features, non-integer labels, fewer than 2
        classes, no class with 2 images, fewer than 2 principal components
        with non-zero variance (e.g. N = 2 or constant features), an image
        whose standardised components are all equal (its correlation with the
        others is undefined), or an RDM_F that is constant.
    """
    feats = check_features(features)
    labs = check_labels(labels, feats.shape[0])
    dims = _check_int(dims, "dims", 2)
    _check_int(seed, "seed", 0)
    _, y, counts = present_classes(
        labs, "PARC", "with a single class RDM_Y is constant and its correlation is undefined"
    )
    if counts.max() < 2:
        raise ValueError(
            "PARC needs at least one class with 2 or more images: with every "
            "class a single image no pair shares a class and RDM_Y is constant"
        )

    scores = principal_component_scores(feats, dims)
    n, k = scores.shape
    if k < 2:
        raise ValueError(
            f"PARC needs at least 2 principal components with non-zero variance; "
            f"the features (N={n}, D={feats.shape[1]}) have {k}"
        )
    standardised = scores / scores.std(axis=0)
    rows = standardised - standardised.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(rows, axis=1)
    # A row equal across its k components up to rounding has no correlation.
    flat = norms <= 1e-12 * np.sqrt(k) * np.abs(standardised).max()
    if flat.any():
        raise ValueError(
            f"PARC is undefined: image {int(np.flatnonzero(flat)[0])} has the same "
            f"value on all {k} standardised components, so its correlation with "
            "the other images is undefined"
        )
    rows /= norms[:, None]

    rdm_f = 1.0 - _upper_triangle_of_row_correlations(rows)
    # Same enumeration of pairs (i < j, row-major) for the label indicator.
    different = np.concatenate([y[i + 1 :] != y[i] for i in range(n - 1)])

    from scipy.stats import rankdata  # lazy: keeps importing the registry light

    ranks = rankdata(rdm_f)  # average ranks, as spearmanr
    ranks -= ranks.mean()
    rank_var = float(np.mean(ranks * ranks))
    if rank_var <= 0:
        raise ValueError("PARC is undefined: RDM_F is constant over all pairs")
    fraction = float(np.mean(different))
    # Pearson of (centred) ranks with a 0/1 indicator of mean p:
    # cov = p * mean(ranks | indicator = 1), var(indicator) = p (1 - p).
    covariance = fraction * float(ranks[different].mean())
    rho = covariance / np.sqrt(rank_var * fraction * (1.0 - fraction))
    return float(100.0 * rho)

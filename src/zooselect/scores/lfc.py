"""Label-Feature Correlation (LFC), the feature score of Deshpande et al. 2021.

Reference: A. Deshpande, A. Achille, A. Ravichandran, H. Li, L. Zancato,
C. Fowlkes, R. Bhotika, S. Soatto, P. Perona. "A linearized framework and a
new benchmark for model selection for fine-tuning", arXiv:2102.00084, 2021,
eq. (7)-(8).

`lfc` is the exact score computed from five sums without ever forming an
N x N matrix; `lfc_pairwise` is the direct definition, kept only as the slow
reference that tests and benchmarks compare against. Neither reads files.
"""

from __future__ import annotations

import numpy as np

from zooselect.scores._validation import check_features, check_labels, require_classes


def _prepare(
    features: np.ndarray, labels: np.ndarray, centered: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Validate, convert to float64 and optionally mean-centre the features."""
    feats = check_features(features)
    labs = check_labels(labels, feats.shape[0])
    require_classes(
        np.unique(labs).size,
        "LFC",
        "with a single class the label similarity matrix Y is constant and its correlation is undefined",
    )
    if centered:
        feats = feats - feats.mean(axis=0, keepdims=True)
    return feats, labs


def _pearson_from_sums(
    n_entries: float,
    sum_theta: float,
    sum_theta_sq: float,
    sum_y: float,
    sum_y_sq: float,
    sum_theta_y: float,
) -> float:
    """Pearson correlation of two length-M vectors given their (cross-)sums."""
    covariance = sum_theta_y - sum_theta * sum_y / n_entries
    var_theta = sum_theta_sq - sum_theta**2 / n_entries
    var_y = sum_y_sq - sum_y**2 / n_entries
    # var_theta is a difference of two large sums: its rounding error is about
    # eps * sum(theta^2), so below 1e-12 of that it is indistinguishable from 0
    # and the correlation would be noise.
    if var_theta <= 1e-12 * max(sum_theta_sq, np.finfo(np.float64).tiny):
        raise ValueError(
            "LFC is undefined: the Gram matrix F F^T is constant, or constant to "
            "within float64 rounding (e.g. all-zero or identical feature vectors)"
        )
    return float(covariance / np.sqrt(var_theta * var_y))


def lfc(features: np.ndarray, labels: np.ndarray, centered: bool = False) -> float:
    r"""Label-Feature Correlation, exact, in O(N D min(N, D)) time and O(min(N, D)^2) memory.

    With features F (N x D), Theta = F F^T and the label similarity matrix
    Y_ij = +1 if y_i = y_j else -1 (both N x N), LFC is the Pearson
    correlation of their N^2 entries:

        LFC = sum((Theta - mean Theta) * (Y - mean Y))
              / (||Theta - mean Theta||_F ||Y - mean Y||_F),

    i.e. ``np.corrcoef(Theta.ravel(), Y.ravel())[0, 1]``. It follows exactly
    from five sums, with 1 the all-ones vector, L the one-hot labels (N x C)
    and n_c the number of samples of class c:

        sum(Theta)       = ||F^T 1||^2
        sum(Theta^2)     = ||F^T F||_F^2   (D x D; ||F F^T||_F^2, N x N, when N < D)
        sum(Theta * Y)   = 2 ||F^T L||_F^2 - sum(Theta)
        sum(Y)           = 2 sum_c n_c^2 - N^2
        sum(Y^2)         = N^2

    so no N x N matrix is built. Everything is computed in float64. The sums
    subtract large numbers when the entries of Theta have a large mean next
    to their spread (features far from zero-mean): the error grows like
    eps * (mean Theta / std Theta)^2, about 1e-13 for offsets 10x the
    feature scale, and a Theta constant to rounding raises ValueError.

    Parameters
    ----------
    features : (N, D) array
        Penultimate-layer features of the target samples under one expert.
    labels : (N,) integer array
        Target class ids in 0..C-1; at least two distinct classes.
    centered : bool
        If True, subtract the per-dimension mean over samples from F first
        (the paper does not say; registered separately as ``lfc_centered``).

    Returns
    -------
    float in [-1, 1]; larger means the expert's features already agree with
    the target labels, i.e. "fine-tune this expert".

    Raises
    ------
    ValueError
        On bad shapes, NaN/inf features, fewer than 2 samples, non-integer or
        negative labels, a single class (Y constant) or a constant Theta.
    """
    feats, labs = _prepare(features, labels, centered)
    n, d = feats.shape
    counts = np.bincount(labs).astype(np.float64)

    # L^T F: per-class sums of the feature vectors, (C, D). A sparse one-hot
    # product is one O(N D) pass; a dense one-hot matmul or a loop over the
    # classes is several times slower at large N.
    from scipy import sparse  # lazy: keeps importing the registry light

    one_hot_t = sparse.csr_matrix(
        (np.ones(n), (labs, np.arange(n))), shape=(counts.size, n)
    )
    class_sums = np.asarray(one_hot_t @ feats)
    column_sums = class_sums.sum(axis=0)  # F^T 1, (D,)
    sum_theta = float(column_sums @ column_sums)
    sum_theta_y = 2.0 * float(np.vdot(class_sums, class_sums)) - sum_theta

    if n >= d:
        gram = feats.T @ feats  # (D, D)
    else:
        gram = feats @ feats.T  # (N, N), smaller than D x D here
    sum_theta_sq = float(np.vdot(gram, gram))
    del gram

    n_entries = float(n) * float(n)
    sum_y = 2.0 * float(counts @ counts) - n_entries
    sum_y_sq = n_entries

    return _pearson_from_sums(
        n_entries, sum_theta, sum_theta_sq, sum_y, sum_y_sq, sum_theta_y
    )


def lfc_centered(features: np.ndarray, labels: np.ndarray) -> float:
    """LFC on mean-centred features: ``lfc(features, labels, centered=True)``.

    Registered as its own method because the paper leaves centring open and
    it changes the ranking (see docs/methods.md).
    """
    return lfc(features, labels, centered=True)


def lfc_pairwise(
    features: np.ndarray, labels: np.ndarray, centered: bool = False
) -> float:
    """LFC by its direct definition: the slow O(N^2 D) reference.

    Builds Theta = F F^T and Y (Y_ij = +1 if y_i = y_j else -1) as N x N float64
    matrices and returns ``np.corrcoef(Theta.ravel(), Y.ravel())[0, 1]``.
    Uses several N^2 * 8 bytes of memory: for tests and benchmarks only; use
    `lfc` for real work. Same inputs, validation and errors as `lfc`.
    """
    feats, labs = _prepare(features, labels, centered)
    theta = feats @ feats.T
    if np.ptp(theta) == 0:
        raise ValueError(
            "LFC is undefined: the Gram matrix F F^T is constant "
            "(e.g. all-zero or identical feature vectors)"
        )
    same = labs[:, None] == labs[None, :]
    y = np.where(same, 1.0, -1.0)
    return float(np.corrcoef(theta.ravel(), y.ravel())[0, 1])

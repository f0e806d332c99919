"""H-score and its Ledoit-Wolf shrinkage variant: between-class share of feature variance.

References:
- Y. Bao, Y. Li, S.-L. Huang, L. Zhang, L. Zheng, A. Zamir, L. Guibas. "An
  Information-Theoretic Approach to Transferability in Task Transfer
  Learning", ICIP 2019 (H-score).
- S. Ibrahim, N. Ponomareva, R. Mazumder. "Newer is not always better:
  Rethinking transferability metrics, their peculiarities, stability and
  performance", ECML-PKDD 2022 (arXiv:2110.06893) (shrinkage H-score).

Methods from later work (not in Deshpande et al. 2021). Functions of the
expert's penultimate features and the target labels; they never read files.
Both are computed from the eigendecomposition of the smaller Gram matrix of
the centred features (D x D when N > D, N x N otherwise), so no D x D
inverse is formed when N < D.
"""

from __future__ import annotations

import logging

import numpy as np

from zooselect.scores._validation import check_features, check_labels, present_classes

log = logging.getLogger(__name__)


def _centred_features_and_classes(
    features: np.ndarray, labels: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate; return centred float64 features, class index per sample, class sizes."""
    feats = check_features(features)
    labs = check_labels(labels, feats.shape[0])
    classes, class_index, counts = present_classes(
        labs,
        method,
        "with a single class the class-conditional means equal the global mean and the score is 0 for every expert",
    )
    centred = feats - feats.mean(axis=0, keepdims=True)
    # A feature constant over the samples is exactly 0 after centring, not its
    # mean's rounding error: otherwise all-constant features would leave a
    # rank-one rounding residue that the pseudo-inverse blows up.
    centred[:, np.ptp(feats, axis=0) == 0] = 0.0
    return centred, class_index, counts.astype(np.float64)


def _ledoit_wolf_shrinkage(
    centred: np.ndarray, gram: np.ndarray
) -> tuple[float, float]:
    """Ledoit-Wolf shrinkage delta and scale mu of S = X^T X / N, X centred (N x D).

    The closed form of Ledoit & Wolf (2004) as ``sklearn.covariance.ledoit_wolf``
    computes it, written with O(N D) sums plus the Gram matrix (either X^T X or
    X X^T: both have the same Frobenius norm):

        mu    = tr(S) / D
        d2    = ||S - mu I||_F^2 / D = (||S||_F^2 - D mu^2) / D
        b2    = (sum_i ||x_i||^4 / N - ||S||_F^2) / (N D)
        delta = min(b2, d2) / d2          (0 when d2 = 0 or b2 <= 0)

    The shrunk covariance is (1 - delta) S + delta mu I.
    """
    n, d = centred.shape
    row_sq = np.einsum("ij,ij->i", centred, centred)
    trace_s = float(row_sq.sum()) / n
    mu = trace_s / d
    s_frob_sq = float(np.vdot(gram, gram)) / n**2
    d2 = (s_frob_sq - d * mu**2) / d
    b2 = (float(row_sq @ row_sq) / n - s_frob_sq) / (n * d)
    if d2 <= 0.0 or b2 <= 0.0:  # S already a multiple of I (e.g. D = 1), or rounding
        return 0.0, mu
    return min(b2, d2) / d2, mu


def _hscore(features: np.ndarray, labels: np.ndarray, shrink: bool) -> float:
    """`hscore` (shrink=False) and `hscore_regularized` (shrink=True)."""
    method = "hscore_regularized" if shrink else "hscore"
    centred, class_index, counts = _centred_features_and_classes(
        features, labels, method
    )
    n, d = centred.shape
    n_classes = counts.size
    eps = np.finfo(np.float64).eps

    if n > d:
        gram = centred.T @ centred  # X^T X, (D, D)
    else:
        gram = centred @ centred.T  # X X^T, (N, N)
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    eigenvalues = np.maximum(eigenvalues, 0.0)
    # Numerical rank of the Gram matrix: eigenvalues below this are rounding
    # noise of a zero eigenvalue (the pseudo-inverse drops them).
    tolerance = max(n, d) * eps * float(eigenvalues.max(initial=0.0))

    # projected_sq[c, i] * weights[i] / n_c summed over i is class c's share of
    # the score: projected_sq holds the squared coordinate of class c's
    # between-class vector on eigenvector i, weights the (pseudo-)inverse.
    if n > d:
        # b_c = X^T 1_c = n_c (mu_c - mu), (C, D); (v_i^T b_c)^2, weight 1 / lambda_i
        class_sums = np.zeros((n_classes, d), dtype=np.float64)
        np.add.at(class_sums, class_index, centred)
        projected_sq = (class_sums @ eigenvectors) ** 2
    else:
        # e_c = 1_c - (n_c / N) 1: the centred class indicator (N, C). X X^T has
        # 1 in its null space; using e_c (orthogonal to 1) keeps that null
        # direction out even where rounding lifts its eigenvalue over `tolerance`.
        indicators = np.zeros((n, n_classes), dtype=np.float64)
        indicators[np.arange(n), class_index] = 1.0
        indicators -= counts / n
        projected_sq = (eigenvectors.T @ indicators).T ** 2  # (u_i^T e_c)^2

    kept = eigenvalues > tolerance
    if shrink:
        delta, mu = _ledoit_wolf_shrinkage(centred, gram)
    else:
        delta, mu = 0.0, 0.0
    if delta > 0.0:
        # Shrunk covariance eigenvalues (1-delta) lambda_i / N + delta mu are all
        # positive, so the inverse is exact: no cut-off needed.
        denominators = (1.0 - delta) * eigenvalues + n * delta * mu
        if n > d:
            # (1-delta) (v_i^T b_c)^2 / ((1-delta) lambda_i + N delta mu)
            weights = (1.0 - delta) / denominators
        else:
            # (u_i^T e_c)^2 (1-delta) lambda_i / ((1-delta) lambda_i + N delta mu)
            weights = (1.0 - delta) * eigenvalues / denominators
    else:
        weights = np.zeros_like(eigenvalues)
        if n > d:
            weights[kept] = 1.0 / eigenvalues[kept]
        else:
            weights[kept] = 1.0
        if not shrink and n_classes > 1 and int(kept.sum()) >= n - 1:
            log.warning(
                "hscore: the centred features have rank N-1 = %d (N <= D + 1), so the "
                "H-score equals C - 1 = %d whatever the features: it cannot rank "
                "experts here; hscore_regularized can",
                n - 1,
                n_classes - 1,
            )
    per_class = projected_sq @ weights  # (C,)
    return float(np.sum(per_class / counts))


def hscore(features: np.ndarray, labels: np.ndarray) -> float:
    r"""H-score: tr(cov(F)^+ cov(G)), the between-class share of the feature covariance.

    With F (N x D) the features, mu the mean feature, mu_c the mean feature of
    class c (n_c samples) and G (N x D) the matrix whose row i is mu_{y_i}:

        cov(F) = (1/N) sum_i (f_i - mu)(f_i - mu)^T
        cov(G) = (1/N) sum_i (mu_{y_i} - mu)(mu_{y_i} - mu)^T
               = (1/N) sum_c n_c (mu_c - mu)(mu_c - mu)^T
        H      = tr(cov(F)^+ cov(G))

    (the 1/N or 1/(N-1) normalisation cancels in the ratio; + is the
    Moore-Penrose pseudo-inverse). With X the centred features, the eigen-
    decomposition X X^T = sum_i lambda_i u_i u_i^T and e_c = 1_c - (n_c/N) 1,
    this equals

        H = sum_c (1/n_c) sum_{i: lambda_i > tol} (u_i^T e_c)^2,

    the sum of squared canonical correlations between the features and the
    one-hot labels, so 0 <= H <= C - 1. It is computed in float64 from the
    smaller Gram matrix (X^T X when N > D, X X^T otherwise), in O(N D min(N, D))
    time; tol = max(N, D) * eps * lambda_max is the usual numerical-rank cut-off.

    Degenerate regime: when the centred features have rank N - 1 (always, for
    features in general position, when N <= D + 1) the projection onto their
    span is the whole centred space and H = C - 1 exactly, whatever the
    features; a warning is logged. Use `hscore_regularized` there.

    Parameters
    ----------
    features : (N, D) array
        Penultimate-layer features of the target samples under one expert;
        finite, N >= 2.
    labels : (N,) integer array
        Target class ids in 0..C-1; at least two distinct classes. Class ids
        without samples are ignored; C counts the classes present.

    Returns
    -------
    float in [0, C - 1]; larger means the classes are better separated in the
    feature space, i.e. "fine-tune this expert". Features that are constant
    over the samples score 0.

    Raises
    ------
    ValueError
        On invalid features or labels (see `check_features`, `check_labels`)
        or fewer than 2 distinct classes (the score would be 0 for every expert).
    """
    return _hscore(features, labels, shrink=False)


def hscore_regularized(features: np.ndarray, labels: np.ndarray) -> float:
    r"""Shrinkage H-score (Ibrahim et al. 2022): cov(F) shrunk by Ledoit-Wolf.

    With S = (1/N) sum_i (f_i - mu)(f_i - mu)^T (D x D), mu_S = tr(S) / D and
    delta in [0, 1] the Ledoit-Wolf (2004) shrinkage, as
    ``sklearn.covariance.ledoit_wolf(F)`` computes it (features centred):

        S_delta = (1 - delta) S + delta mu_S I
        H_delta = tr( S_delta^{-1} (1 - delta) cov(G) )

    with cov(G) = (1/N) sum_c n_c (mu_c - mu)(mu_c - mu)^T as in `hscore`. The
    factor (1 - delta) shrinks the between-class covariance as much as the
    empirical part of S, so delta = 0 gives the plain H-score. In terms of the
    eigenvalues lambda_i of X X^T (X the centred features) and the centred
    class indicators e_c:

        H_delta = sum_c (1/n_c) sum_i (u_i^T e_c)^2 w_i,
        w_i = (1 - delta) lambda_i / ((1 - delta) lambda_i + N delta mu_S) in [0, 1),

    so 0 <= H_delta <= H <= C - 1; directions of small feature variance are
    damped instead of inverted, which keeps the score informative when N <= D
    (where the plain H-score is the constant C - 1). When delta = 0 (e.g. D = 1,
    or S already a multiple of I) the pseudo-inverse of `hscore` is used.
    Computed in float64 in O(N D min(N, D)) time; S_delta is never formed.

    Both covariances here use 1/N (S is sklearn's maximum-likelihood
    estimate); a transcription that takes cov(G) from ``np.cov`` (1/(N-1))
    gets N/(N-1) times this value, the same ranking.

    Parameters
    ----------
    features : (N, D) array
        Penultimate-layer features of the target samples under one expert;
        finite, N >= 2.
    labels : (N,) integer array
        Target class ids in 0..C-1; at least two distinct classes. Class ids
        without samples are ignored.

    Returns
    -------
    float in [0, C - 1]; larger means "fine-tune this expert". Features that
    are constant over the samples score 0.

    Raises
    ------
    ValueError
        On invalid features or labels, or fewer than 2 distinct classes.
    """
    return _hscore(features, labels, shrink=True)

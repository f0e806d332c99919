"""LogME: maximised evidence of Bayesian linear regression of labels on features.

Reference: K. You, Y. Liu, J. Wang, M. Long. "LogME: Practical Assessment of
Pre-trained Models for Transfer Learning", ICML 2021.

A method from later work (not in Deshpande et al. 2021). A function of the
expert's penultimate features and the target labels; it never reads files.

The evidence is maximised exactly, also when N < D. The widely used
fixed-point implementation evaluates the evidence from the k = min(N, D)
(or rank-many) singular values of F only, which drops the -(D - k)/2 log(alpha)
part of -1/2 log det(A): its value is wrong whenever N < D (or F is
rank-deficient) and alpha != 1. Here the evidence is profiled analytically
over the noise precision and maximised over the one remaining parameter,
alpha / beta, on a log grid refined by root finding, so the maximum found is
the evidence's, not a fixed point's stopping value. (When N < D the profiled
evidence can have a second, boundary maximum at beta -> infinity; MacKay's
fixed-point updates started at alpha = beta = 1 can run off to it even where
an interior maximum is higher.)
"""

from __future__ import annotations

import numpy as np

from zooselect.scores._validation import check_features, check_labels, present_classes

# lambda = alpha / beta is searched in [s2 / LAMBDA_SPAN, s2 * LAMBDA_SPAN],
# s2 the largest squared singular value of F: wide enough that the profiled
# evidence at either end is within ~1 / LAMBDA_SPAN of its limit there
# (lambda -> infinity: features ignored; lambda -> 0: noise-free fit), and
# relative to the feature scale, so the score does not change when F is scaled.
LAMBDA_SPAN = 1e10
# Grid points over log(lambda) in that range (spacing ~0.23): they locate the
# best basin before `brentq` refines the stationary point to 1e-12.
GRID_POINTS = 201


def _spectrum(
    feats: np.ndarray, class_index: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nonzero squared singular values of F and each class's target in that basis.

    Returns (sigma2 (r,), z (r, C), residual (C,)): with F = sum_i sigma_i u_i v_i^T
    (r = numerical rank) and y_c the one-hot column of class c,
    z[i, c] = u_i^T y_c and residual[c] = ||y_c||^2 - sum_i z[i, c]^2, the part
    of y_c outside the column space of F.
    """
    n, d = feats.shape
    n_classes = counts.size
    eps = np.finfo(np.float64).eps
    if n >= d:
        # D x D eigenproblem (memory O(D^2), like the LFC module); u_i^T y_c
        # follows from the class sums F^T y_c as v_i^T F^T y_c / sigma_i.
        sigma2, v = np.linalg.eigh(feats.T @ feats)
        keep = sigma2 > max(n, d) * eps * max(float(sigma2.max(initial=0.0)), 0.0)
        sigma2, v = sigma2[keep], v[:, keep]
        class_sums = np.zeros((n_classes, d), dtype=np.float64)
        np.add.at(class_sums, class_index, feats)  # (F^T Y)^T, (C, D)
        z = (class_sums @ v).T / np.sqrt(sigma2)[:, None]
        residual = np.maximum(counts - np.sum(z**2, axis=0), 0.0)
    else:
        # N < D: the thin SVD is as cheap as the N x N Gram matrix and resolves
        # small singular values, which matter when the optimum is near lambda = 0.
        u, s, _ = np.linalg.svd(feats, full_matrices=False)
        keep = s > max(n, d) * eps * float(s.max(initial=0.0))
        u, sigma2 = u[:, keep], s[keep] ** 2
        one_hot = np.zeros((n, n_classes), dtype=np.float64)
        one_hot[np.arange(n), class_index] = 1.0
        z = u.T @ one_hot
        residual = np.sum((one_hot - u @ z) ** 2, axis=0)  # direct: no cancellation
    return sigma2, z, residual


def _profile(
    t: np.ndarray | float, sigma2: np.ndarray, z2: np.ndarray, residual: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Profiled log evidence l(t) and dl/dt at t = log(lambda), for one class.

    With rho_i = sigma_i^2 / lambda:
        Q(lambda) = residual + sum_i z_i^2 / (1 + rho_i)        (= min over w of the
                    penalised residual ||F w - y||^2 + lambda ||w||^2)
        l         = N/2 log(N / Q) - N/2 - N/2 log(2 pi) - 1/2 sum_i log(1 + rho_i)
        dl/dt     = 1/2 sum_i rho_i / (1 + rho_i)
                    - N/2 (sum_i z_i^2 rho_i / (1 + rho_i)^2) / Q
    """
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    rho = sigma2[None, :] * np.exp(-t)[:, None]  # (T, r)
    inv = 1.0 / (1.0 + rho)
    q = residual + (inv @ z2)
    value = (
        0.5 * n * np.log(n / q)
        - 0.5 * n
        - 0.5 * n * np.log(2.0 * np.pi)
        - 0.5 * np.sum(np.log1p(rho), axis=1)
    )
    slope = 0.5 * np.sum(rho * inv, axis=1) - 0.5 * n * ((rho * inv**2) @ z2) / q
    return value, slope


def _max_evidence(sigma2: np.ndarray, z2: np.ndarray, residual: float, n: int) -> float:
    """Maximum over the lambda search range of one class's profiled log evidence."""
    if sigma2.size == 0:  # F = 0: every lambda gives the noise-only model
        return float(_profile(0.0, sigma2, z2, residual, n)[0][0])
    centre = np.log(float(sigma2.max()))
    half_width = np.log(LAMBDA_SPAN)
    grid = np.linspace(centre - half_width, centre + half_width, GRID_POINTS)
    from scipy.optimize import brentq  # lazy: keeps importing the registry light

    values, slopes = _profile(grid, sigma2, z2, residual, n)
    best = float(values.max())
    # Every local maximum inside the range is a sign change + -> - of the slope
    # between two grid points; refine each and keep the largest value.
    for j in np.flatnonzero((slopes[:-1] > 0) & (slopes[1:] < 0)):
        root = brentq(
            lambda t: float(_profile(t, sigma2, z2, residual, n)[1][0]),
            grid[j],
            grid[j + 1],
            xtol=1e-12,
            rtol=4 * np.finfo(np.float64).eps,
        )
        best = max(best, float(_profile(root, sigma2, z2, residual, n)[0][0]))
    return best


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    r"""LogME: maximised log evidence per sample of linear regression on one-hot labels.

    For each class c present, the target is the one-hot column y_c (N,) and
    the model is y_c = F w + noise, w ~ N(0, alpha^-1 I_D), noise ~ N(0, beta^-1 I_N),
    F (N x D) the features as given (not centred, no bias: as in the paper).
    The log evidence (marginal likelihood) is

        L(alpha, beta) = D/2 log alpha + N/2 log beta - N/2 log 2 pi
                         - beta/2 ||F m - y||^2 - alpha/2 m^T m - 1/2 log det A,
        A = alpha I_D + beta F^T F,   m = beta A^-1 F^T y,

    and LogME = (1/C) sum_c max_{alpha, beta} L_c(alpha, beta) / N over the C
    classes present. With the thin SVD F = sum_{i<=k} sigma_i u_i v_i^T
    (k = min(N, D)) everything is exact in k terms, including the D - k
    directions that F does not reach:

        log det A = (D - k) log alpha + sum_{i<=k} log(alpha + beta sigma_i^2).

    Writing lambda = alpha / beta, the maximum over beta is closed-form,
    beta* = N / Q(lambda) with Q(lambda) = ||F m - y||^2 + lambda m^T m
    = ||y||^2 - sum_i z_i^2 sigma_i^2 / (lambda + sigma_i^2), z = U^T y, and

        max_beta L = N/2 log(N / Q(lambda)) - N/2 - N/2 log 2 pi
                     - 1/2 sum_{i<=k} log(1 + sigma_i^2 / lambda),

    in which the (D - k) log alpha term has cancelled exactly against
    D/2 log alpha (zero singular values drop out the same way). This
    one-dimensional function of log(lambda) is evaluated on a grid of
    GRID_POINTS points over lambda in [s2 / LAMBDA_SPAN, s2 * LAMBDA_SPAN]
    (s2 the largest sigma_i^2), and every local maximum is refined by root
    finding (brentq) on its derivative; the largest value wins. Where the
    supremum is a limit (lambda -> infinity: the features explain nothing;
    lambda -> 0: a noise-free fit, possible when N <= D) the value at the end
    of the range is returned, within ~1/LAMBDA_SPAN of that limit. If a
    target column lies exactly in the span of F with N > rank F (e.g. exact
    duplicate samples when N <= D) the evidence is unbounded as lambda -> 0,
    and the value at the lower end of the range is returned.

    Singular values below max(N, D) * eps times the largest (of F, or of
    F^T F when N >= D, which is decomposed instead to keep memory at
    O(D^2)) are treated as zero. Everything is float64; time
    O(N D min(N, D) + C * GRID_POINTS * min(N, D)). The score is invariant to
    scaling F (lambda scales with sigma^2 and the search range with it).

    Parameters
    ----------
    features : (N, D) array
        Penultimate-layer features of the target samples under one expert;
        finite, N >= 2. N < D is fine.
    labels : (N,) integer array
        Target class ids in 0..C-1; at least two distinct classes. Class ids
        without samples are ignored (their all-zero target would have an
        unbounded evidence).

    Returns
    -------
    float: the mean over classes of the maximised log evidence per sample;
    larger means a linear model on these features explains the labels
    better, i.e. "fine-tune this expert".

    Raises
    ------
    ValueError
        On invalid features or labels (see `check_features`, `check_labels`)
        or fewer than 2 distinct classes (a single all-ones target says
        nothing about the classes).
    """
    feats = check_features(features)
    labs = check_labels(labels, feats.shape[0])
    classes, class_index, counts = present_classes(
        labs,
        "LogME",
        "with a single class the one-hot target is all ones and its evidence says nothing about the labels",
    )
    n = feats.shape[0]
    sigma2, z, residual = _spectrum(feats, class_index, counts.astype(np.float64))
    z2 = z**2
    evidences = [
        _max_evidence(sigma2, z2[:, c], float(residual[c]), n)
        for c in range(classes.size)
    ]
    return float(np.mean(evidences) / n)

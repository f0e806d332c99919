"""NCTI, the neural-collapse-based transferability index (a later-work method).

Reference: Z. Wang, Y. Luo, L. Zheng, Z. Huang, M. Baktashmotlagh. "How Far
Pre-trained Models Are from Neural Collapse on the Target Dataset Informs
their Transferability", ICCV 2023. Released code: BUserName/NCTI,
``metrics.py`` (``NCTI_Score``) and ``evaluate_metric_group1_cpu.py`` (the
normalisation across the models and the final combination).

Three per-expert terms from an LDA fitted on PCA-reduced features (`ncti`),
combined across the zoo by `zooselect.scores._zoo.min_max_combination` (the
registry's ``across_zoo`` step). The released code runs scikit-learn's PCA
and LinearDiscriminantAnalysis; the same computations are written out here
in numpy/scipy. Never reads files.
"""

from __future__ import annotations

import math

import numpy as np

from zooselect.scores._validation import check_features, check_labels, present_classes
from zooselect.scores._zoo import ZooTerms
from zooselect.scores.parc import _check_int, principal_component_scores

# The floor of the shrinkage; at the floor the code fits LDA without shrinkage.
MIN_SHRINKAGE = 1e-10
# scikit-learn's LinearDiscriminantAnalysis(solver="svd") rank tolerance (its default tol).
SVD_TOLERANCE = 1e-4
TERM_WEIGHTS = {"seli": 1.0, "ncc": 1.0, "vc": -1.0}


def _softmax(logits: np.ndarray) -> np.ndarray:
    from scipy.special import softmax  # lazy: keeps importing the registry light

    return softmax(logits, axis=1)


def _lda_svd(
    x: np.ndarray, y: np.ndarray, means: np.ndarray, priors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """LDA without shrinkage as scikit-learn's SVD solver computes it: (projected features, probabilities).

    Within-class deviations scaled per dimension by their standard deviation
    and by 1 / sqrt(N - C) (the unbiased pooled covariance, scikit-learn's
    normalisation when the authors ran it; releases since its 2026 fix use
    1 / sqrt(N)), whitened by their SVD (singular values <= 1e-4 dropped);
    the whitened class means, weighted by sqrt(N pi_c / (C - 1)), span the
    discriminant directions (singular values <= 1e-4 of the largest dropped).
    Projected features: (x - xbar) in that basis, xbar = sum_c pi_c mu_c.
    Probabilities: softmax of the Gaussian log-likelihoods in that space,
    x~ . mu~_c - ||mu~_c||^2 / 2 + log pi_c.
    """
    n, _ = x.shape
    n_classes = priors.size
    if n <= n_classes:
        raise ValueError(
            "NCTI needs more images than classes (its LDA's pooled covariance is undefined)"
        )
    deviations = x - means[y]
    spread = deviations.std(axis=0)
    spread[spread == 0] = 1.0
    _, singular, right = np.linalg.svd(
        deviations / spread / math.sqrt(n - n_classes), full_matrices=False
    )
    rank = int(np.count_nonzero(singular > SVD_TOLERANCE))
    if rank == 0:
        raise ValueError(
            "NCTI is undefined: the features have no within-class variation"
        )
    whiten = (right[:rank] / spread).T / singular[:rank]
    centre = priors @ means
    between = (
        np.sqrt(n * priors / max(n_classes - 1, 1))[:, None] * (means - centre)
    ) @ whiten
    _, singular, right = np.linalg.svd(between, full_matrices=False)
    rank = (
        int(np.count_nonzero(singular > SVD_TOLERANCE * singular[0]))
        if singular[0] > 0
        else 0
    )
    scalings = whiten @ right[:rank].T
    projected = (x - centre) @ scalings
    centres = (means - centre) @ scalings
    logits = projected @ centres.T - 0.5 * np.sum(centres**2, axis=1) + np.log(priors)
    return projected[:, : min(n_classes - 1, x.shape[1])], _softmax(logits)


def _lda_eigen(
    x: np.ndarray,
    y: np.ndarray,
    means: np.ndarray,
    priors: np.ndarray,
    shrinkage: float,
) -> tuple[np.ndarray, np.ndarray]:
    """LDA with shrinkage as scikit-learn's eigen solver computes it: (projected features, probabilities).

    Every covariance is the maximum-likelihood one shrunk towards its mean
    eigenvalue, shrunk(S) = (1 - lambda) S + lambda tr(S) / k I. S_W =
    sum_c pi_c shrunk(Cov_c), S_B = shrunk(Cov) - S_W; the projection takes
    the top min(C - 1, k) generalised eigenvectors of S_B u = t S_W u
    (u^T S_W u = 1, no centring); the probabilities are those of LDA with
    covariance S_W, softmax_c(x^T S_W^-1 mu_c - mu_c^T S_W^-1 mu_c / 2 + log pi_c).
    """
    from scipy import linalg  # lazy: keeps importing the registry light

    k = x.shape[1]

    def shrunk(points: np.ndarray) -> np.ndarray:
        centred = points - points.mean(axis=0)
        scatter = centred.T @ centred / points.shape[0]
        return (1.0 - shrinkage) * scatter + shrinkage * np.trace(scatter) / k * np.eye(
            k
        )

    within = sum(priors[c] * shrunk(x[y == c]) for c in range(priors.size))
    if not np.trace(within) > 0:
        raise ValueError(
            "NCTI is undefined: the features have no within-class variation"
        )
    count = min(priors.size - 1, k)
    _, vectors = linalg.eigh(
        shrunk(x) - within, within, subset_by_index=[k - count, k - 1]
    )
    projected = x @ vectors[:, ::-1]
    weights = linalg.solve(
        within, means.T, assume_a="pos"
    )  # S_W^-1 mu_c, one column per class
    logits = x @ weights - 0.5 * np.einsum("cd,dc->c", means, weights) + np.log(priors)
    return projected, _softmax(logits)


def ncti(
    features: np.ndarray, labels: np.ndarray, dims: int = 64, variance_dims: int = 32
) -> ZooTerms:
    r"""NCTI's three per-expert terms; the final score is S_ncc' + S_seli' - S_vc' across the zoo.

    As the authors' released code computes them, for N target images of C classes:

    1. PCA: Z = the scores of the features on their top `dims` principal axes
       (exact PCA, `principal_component_scores`; at most the features' rank).
    2. Shrinkage lambda = max(exp(-v), 1e-10), v the summed variance
       (n - 1 normalisation) of the top `variance_dims` components. If
       lambda is at that floor, LDA without shrinkage (`_lda_svd`), else LDA
       with shrinkage lambda (`_lda_eigen`), both on Z, as the code's
       scikit-learn solvers compute them.
    3. S_seli = ||Z~ - mean(Z~)||_*, the nuclear norm of the centred
       LDA-projected features (N x min(C - 1, k)): how widely the classes
       spread in the discriminant space (the paper's simplex-ETF term).
    4. S_ncc = (1/N) sum_i p(y_i | z_i), the LDA's mean true-class
       probability on the images it was fitted on (nearest-class-centre term).
    5. S_vc = log sum_c ||P_c||_*, P_c the N_c x C probabilities of class c's
       images (within-class variability: a collapsed class has rank-one
       predictions and the smallest nuclear norm).

    Across the zoo (`min_max_combination`, the registry's ``across_zoo``; the
    code's evaluation script): each term is min-max scaled over the experts,
    NCTI = S_ncc' + S_seli' - S_vc'. A term equal for every expert contributes
    0 (the code divides by zero there).

    Where ours departs from the code: the PCA is exact (scikit-learn's
    default chooses a randomised solver, unseeded, for large inputs) and
    keeps at most the features' rank (the code's PCA refuses fewer than
    `dims` images or dimensions); class ids need not be 0..C-1; the
    unshrunk LDA uses scikit-learn's normalisation of the authors' time
    (see `_lda_svd`); computed in float64 (the code keeps float32 features
    in float32).

    Returns
    -------
    ZooTerms: seli, ncc, vc with weights +1, +1, -1, to be combined over the
    experts of one zoo. Larger combined scores mean "fine-tune this expert".
    """
    feats = check_features(features)
    labs = check_labels(labels, feats.shape[0])
    dims = _check_int(dims, "dims", 1)
    variance_dims = _check_int(variance_dims, "variance_dims", 1)
    _, y, counts = present_classes(
        labs, "NCTI", "with one class there is nothing to collapse onto"
    )
    reduced = principal_component_scores(feats, dims)
    if reduced.shape[1] == 0:
        raise ValueError("NCTI is undefined: the features are constant")
    n = feats.shape[0]
    variances = np.sum(reduced**2, axis=0) / (n - 1)
    shrinkage = max(math.exp(-float(variances[:variance_dims].sum())), MIN_SHRINKAGE)
    priors = counts / n
    means = np.zeros((counts.size, reduced.shape[1]))
    np.add.at(means, y, reduced)
    means /= counts[:, None]
    if shrinkage == MIN_SHRINKAGE:
        projected, probabilities = _lda_svd(reduced, y, means, priors)
    else:
        projected, probabilities = _lda_eigen(reduced, y, means, priors, shrinkage)

    seli = (
        float(np.linalg.norm(projected - projected.mean(axis=0), ord="nuc"))
        if projected.size
        else 0.0
    )
    ncc = float(np.mean(probabilities[np.arange(n), y]))
    vc = math.log(
        sum(
            float(np.linalg.norm(probabilities[y == c], ord="nuc"))
            for c in range(counts.size)
        )
    )
    return ZooTerms(
        values={"seli": seli, "ncc": ncc, "vc": vc}, weights=dict(TERM_WEIGHTS)
    )

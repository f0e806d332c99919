"""ETran, energy-based transferability estimation (a later-work method).

Reference: M. Gholami, M. Akbari, X. Wang, B. Kamranian, Y. Zhang. "ETran:
Energy-Based Transferability Estimation", ICCV 2023. Released code:
mgholamikn/ETran, ``metrics.py`` (``Energy_Score``, ``LDA_Score``, class
``LDA``) and ``tw.py`` (how the scores are combined for classification).

Three per-expert terms (`energy_score`, `lda_score`, `svd_score`), combined
across the zoo by `zooselect.scores._zoo.min_max_combination`: the registered
per-expert function `etran` returns the terms, the registry's ``across_zoo``
step gives the final score. Written from the description and the code's
behaviour, not copied. Never reads files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from zooselect.options import keyword_defaults

from zooselect.scores._validation import check_features, check_labels, present_classes
from zooselect.scores._zoo import ZooTerms, check_weights
from zooselect.scores.sfda import POWER_ITERATIONS, _fisher_probabilities

LDA_COVARIANCES = ("identity", "shrunk")


def _check_share(value: object, name: str) -> float:
    """`value` as a float in (0, 1]; bools, strings and others refused naming `name`."""
    if isinstance(value, bool) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise ValueError(f"{name} must be a number in (0, 1]; got {value!r}")
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be in (0, 1]; got {value!r}")
    return float(value)


def _check_covariance(value: object) -> str:
    if value not in LDA_COVARIANCES:
        raise ValueError(
            f"lda_covariance must be one of {', '.join(LDA_COVARIANCES)}; got {value!r}"
        )
    return str(value)


def energy_score(features: np.ndarray, fraction: float = 0.005) -> float:
    r"""S_en: mean of log sum_j exp(x_j) over the `fraction` of images where it is smallest.

    The features x (D,) of an image are read as logits (temperature 1): its
    free energy is E(x) = -log sum_j exp(x_j), and in-distribution images have
    low energy. As the released code computes it (``Energy_Score(X, 0.5,
    "bot")``): the mean of -E over the floor(fraction N) images of highest
    energy, 5 N // 1000 with the default 0.005; we take at least one image
    (below N = 200 the code averages none and gives NaN). Depends on the
    scale and offset of the features, by design.

    Parameters
    ----------
    features : (N, D) array.
    fraction : float in (0, 1], the share of images averaged.

    Returns
    -------
    float; larger means the target looks in-distribution to the expert.
    """
    feats = check_features(features)
    fraction = _check_share(fraction, "energy_fraction")
    from scipy.special import logsumexp  # lazy: keeps importing the registry light

    negative_energy = logsumexp(feats, axis=1)
    count = max(
        1, math.floor(fraction * feats.shape[0] + 1e-9)
    )  # 1e-9: 0.005 * 200 is 1, not 0.99...
    return float(np.mean(np.partition(negative_energy, count - 1)[:count]))


def lda_score(
    features: np.ndarray, labels: np.ndarray, covariance: str = "identity"
) -> float:
    r"""S_cls: mean probability of the true class under a linear discriminant fitted on the images.

    p(c | x) = softmax_c(x^T A mu_c - 1/2 mu_c^T A mu_c + log pi_c), mu_c the
    class means, pi_c = n_c / N, resubstitution (fitted and applied on the
    same images), S_cls = (1/N) sum_i p(y_i | x_i).

    - "identity" (default), A = I, as the released code computes it: its
      ``LDA`` shrinks S_W like SFDA and then takes ``np.linalg.eigh`` of the
      non-symmetric S~_W^-1 S_B, whose eigenvectors V are orthonormal, so its
      coefficients mu_c V V^T are the class means themselves: a nearest-class-
      mean classifier with unit variance, p(c | x) proportional to
      pi_c exp(-||x - mu_c||^2 / 2). Depends on the scale of the features.
    - "shrunk", A = S~_W^-1, the regularised LDA the paper describes: SFDA's
      first pass (`zooselect.scores.sfda`, lambda from the released code's
      power iteration).

    Returns
    -------
    float in (0, 1]; larger means the classes are separable.
    """
    feats = check_features(features)
    labs = check_labels(labels, feats.shape[0])
    covariance = _check_covariance(covariance)
    _, y, counts = present_classes(
        labs, "ETran", "with one class every probability is 1"
    )
    priors = counts / feats.shape[0]
    rows = np.arange(feats.shape[0])
    if covariance == "shrunk":
        probabilities, _ = _fisher_probabilities(
            feats, y, priors, None, POWER_ITERATIONS, method="ETran"
        )
        return float(np.mean(probabilities[rows, y]))
    means = np.zeros((counts.size, feats.shape[1]))
    np.add.at(means, y, feats)
    means /= counts[:, None]
    logits = (
        feats @ means.T - 0.5 * np.einsum("cd,cd->c", means, means) + np.log(priors)
    )
    from scipy.special import softmax  # lazy: keeps importing the registry light

    return float(np.mean(softmax(logits, axis=1)[rows, y]))


def svd_score(features: np.ndarray, labels: np.ndarray, energy: float = 0.8) -> float:
    r"""S_reg: minus the mean squared error of the one-hot labels regressed on a truncated SVD of the features.

    F = U S V^T (uncentred, as the code's least-squares fit); keep the r
    leading singular vectors, r the smallest with
    sum_{j<=r} s_j^2 >= energy * sum_j s_j^2; Y^ = U_r U_r^T Y for the one-hot
    labels Y (N x C); S_reg = -||Y - Y^||_F^2 / (N C). With energy = 1 it is
    the plain least-squares fit (F's numerical rank), which fits any labels
    exactly when N <= D; the default 0.8 keeps the score informative there.
    The paper's regression score targets bounding boxes in detection; this
    is its classification form, our reading (the released code's
    ``_solve_eigen2`` sketches the least-squares fit but is never run).

    Returns
    -------
    float in [-1, 0]; larger means the labels lie closer to the features' leading subspace.
    """
    feats = check_features(features)
    labs = check_labels(labels, feats.shape[0])
    energy = _check_share(energy, "svd_energy")
    _, y, counts = present_classes(
        labs, "ETran", "one-hot labels of one class are constant"
    )
    n, d = feats.shape
    onehot = np.zeros((n, counts.size))
    onehot[np.arange(n), y] = 1.0
    # Squared singular values and the projections U^T Y, from the smaller Gram matrix.
    if n <= d:
        squared, left = np.linalg.eigh(feats @ feats.T)
        projected = left.T @ onehot
    else:
        squared, right = np.linalg.eigh(feats.T @ feats)
        projected = right.T @ (feats.T @ onehot)  # = S U^T Y
        projected = np.divide(
            projected, np.sqrt(np.maximum(squared, 0.0))[:, None],
            out=np.zeros_like(projected), where=squared[:, None] > 0,
        )  # fmt: skip
    order = np.argsort(squared)[::-1]
    squared, projected = squared[order], projected[order]
    keep = squared > max(n, d) * np.finfo(np.float64).eps * max(float(squared[0]), 0.0)
    squared, projected = squared[keep], projected[keep]
    residual = float(n)  # ||Y||_F^2: one 1 per row
    if squared.size:
        rank = (
            int(
                np.searchsorted(
                    np.cumsum(squared) / squared.sum(), energy * (1 - 1e-12)
                )
            )
            + 1
        )
        residual -= float(np.sum(projected[: min(rank, squared.size)] ** 2))
    return -max(residual, 0.0) / (n * counts.size)


def _check_etran(
    energy_weight: object,
    lda_weight: object,
    svd_weight: object,
    energy_fraction: object,
    lda_covariance: object,
    svd_energy: object,
) -> dict[str, float]:
    """ETran's options checked (ValueError naming the bad one); returns the terms' weights."""
    weights = check_weights(
        {
            "energy_weight": energy_weight,
            "lda_weight": lda_weight,
            "svd_weight": svd_weight,
        }
    )
    _check_share(energy_fraction, "energy_fraction")
    _check_covariance(lda_covariance)
    _check_share(svd_energy, "svd_energy")
    return weights


def check_etran_options(options: Mapping[str, Any]) -> None:
    """A config's etran options (over etran's defaults), checked before any cache exists."""
    defaults = keyword_defaults(etran, skip=("features", "labels"))
    _check_etran(**{**defaults, **options})


def etran(
    features: np.ndarray,
    labels: np.ndarray,
    energy_weight: float = 0.15,
    lda_weight: float = 0.85,
    svd_weight: float = 0.0,
    energy_fraction: float = 0.005,
    lda_covariance: str = "identity",
    svd_energy: float = 0.8,
) -> ZooTerms:
    r"""ETran's per-expert terms; the final score is their weighted sum after min-max scaling across the zoo.

    T(e) = w_en S_en'(e) + w_cls S_cls'(e) + w_reg S_reg'(e), where
    S'(e) = (S(e) - min_zoo S) / (max_zoo S - min_zoo S) (`min_max_combination`,
    the registry's ``across_zoo`` step; a term equal for every expert
    contributes 0) and S_en, S_cls, S_reg are `energy_score`, `lda_score` and
    `svd_score`.

    What we followed: the scaling and the default weights 0.15 (energy) and
    0.85 (LDA) are the released code's combination for classification
    (``tw.py``, its reproduction of the paper's classification results),
    which uses no regression score: ``svd_weight`` is 0 by default and a
    positive value adds our classification form of the SVD-based score. The
    terms' own definitions, and where ours depart from the code, are in
    their docstrings. Only terms with a non-zero weight are computed.

    Returns
    -------
    ZooTerms: the computed terms and their weights, to be combined over the
    experts of one zoo. Larger combined scores mean "fine-tune this expert".
    """
    feats = check_features(features)
    labs = check_labels(labels, feats.shape[0])
    weights = _check_etran(
        energy_weight, lda_weight, svd_weight, energy_fraction, lda_covariance, svd_energy
    )
    present_classes(
        labs, "ETran", "with one class the classification terms say nothing"
    )
    terms = {
        "energy": lambda: energy_score(feats, energy_fraction),
        "lda": lambda: lda_score(feats, labs, lda_covariance),
        "svd": lambda: svd_score(feats, labs, svd_energy),
    }
    chosen = {
        name: weights[f"{name}_weight"] for name in terms if weights[f"{name}_weight"]
    }
    return ZooTerms(values={name: terms[name]() for name in chosen}, weights=chosen)

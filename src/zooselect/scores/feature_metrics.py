"""Feature Metrics: sparsity of an expert's target features (a baseline in Deshpande et al. 2021).

Reference: Ueno & Kondo 2020, as cited and compared against by A. Deshpande
et al., "A linearized framework and a new benchmark for model selection for
fine-tuning", arXiv:2102.00084, 2021. The original code and formula were not
found: the paper is described as combining two sparsity metrics of the
features, and this module is OUR READING of it (see docs/methods.md): two standard
sparsity measures, each z-scored across the zoo and averaged with equal
weight. Hoyer's measure is from P. O. Hoyer, "Non-negative Matrix
Factorization with Sparseness Constraints", JMLR 5, 2004.

Sign (our choice): SPARSER target features score LOWER. An expert whose
penultimate units stay silent on the target images has fewer features that
respond to the target domain for a linear head or fine-tuning to build on;
units that fire broadly on the target images indicate that the expert's
filters recognise its content. Nothing in the sources we had fixes this sign,
so the benchmark's correlations are what will tell; flipping it negates every
rank correlation of this method.

Workflow. z-scoring needs every expert at once, so there are two steps:
1. per expert: ``feature_metrics(features)``, the registered method, gives
   the signed equal-weight average of the two raw measures (both lie in
   [0, 1]), a usable per-expert score on its own; ``sparsity_metrics(features)``
   gives the two measures ``(zero_fraction, hoyer_sparsity)`` themselves;
2. per (target, regime), once every expert's features are at hand:
   ``combine_across_zoo({expert: sparsity_metrics(features_of_expert), ...})``
   gives the paper's combination (each measure z-scored across the zoo,
   equal weights). Report that as the Feature Metrics score of the zoo.
Nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from zooselect.scores._validation import check_features


def zero_fraction(features: np.ndarray, tol: float = 1e-6) -> float:
    r"""Fraction of near-zero activations: mean over i, j of [|F_ij| <= tol * max |F|].

    "Near zero" is relative to the features' scale, the largest absolute
    activation of this expert on these images: with the default tol = 1e-6
    (about 8 float32 rounding steps of the largest value) it counts the
    activations that are zero to the precision at which float32 features can
    resolve them, e.g. ReLU outputs that are exactly 0 or rounded to 0. The
    relative threshold makes the value invariant to scaling the features.
    All-zero features give 1.0.

    Parameters
    ----------
    features : (N, D) array of an expert's features of N target images.
    tol : float in [0, 1), the relative threshold.

    Returns
    -------
    float in [0, 1]; larger is sparser.
    """
    feats = check_features(features)
    if isinstance(tol, bool) or not isinstance(
        tol, (int, float, np.integer, np.floating)
    ):
        raise ValueError(f"tol must be a number in [0, 1); got {tol!r}")
    if not (0.0 <= tol < 1.0):
        raise ValueError(f"tol must be in [0, 1); got {tol!r}")
    magnitudes = np.abs(feats)
    scale = float(magnitudes.max())
    return float(np.mean(magnitudes <= tol * scale))


def hoyer_sparsity(features: np.ndarray) -> float:
    r"""Hoyer sparsity averaged over images: mean_i (sqrt(D) - ||f_i||_1 / ||f_i||_2) / (sqrt(D) - 1).

    For each image's feature vector f_i (D,), the measure is 1 when a single
    entry is non-zero and 0 when all entries have the same magnitude; it does
    not depend on the scale of f_i. An all-zero f_i (the ratio is 0/0) counts
    as 1, maximally sparse, consistent with `zero_fraction` counting all its
    entries as zero.

    Parameters
    ----------
    features : (N, D) array with D >= 2 (with D = 1 the measure is 0/0).

    Returns
    -------
    float in [0, 1]; larger is sparser.
    """
    feats = check_features(features)
    d = feats.shape[1]
    if d < 2:
        raise ValueError(f"Hoyer sparsity needs at least 2 dimensions; got D={d}")
    l1 = np.sum(np.abs(feats), axis=1)
    l2 = np.linalg.norm(feats, axis=1)
    root = np.sqrt(d)
    ratio = np.divide(l1, l2, out=np.ones_like(l1), where=l2 > 0)  # zero row -> 1
    per_image = (root - ratio) / (root - 1.0)
    return float(np.mean(np.clip(per_image, 0.0, 1.0)))


def sparsity_metrics(features: np.ndarray, tol: float = 1e-6) -> tuple[float, float]:
    """The two raw measures of one expert: ``(zero_fraction, hoyer_sparsity)``.

    The per-expert input of `combine_across_zoo`.
    """
    return zero_fraction(features, tol=tol), hoyer_sparsity(features)


def feature_metrics(features: np.ndarray, tol: float = 1e-6) -> float:
    r"""Per-expert raw Feature Metrics score: -(zero_fraction + hoyer_sparsity) / 2.

    The equal-weight average of the two sparsity measures (both in [0, 1]),
    negated so that denser target features score higher (see the module
    docstring for the sign and for why this is our reading). This is the
    value to register per expert; the paper's combination z-scores each
    measure across the zoo first: ``combine_across_zoo`` on the
    ``sparsity_metrics`` of every expert.

    Parameters
    ----------
    features : (N, D) array, D >= 2, of an expert's features of N target images.
    tol : float, the relative near-zero threshold of `zero_fraction`.

    Returns
    -------
    float in [-1, 0]; larger means denser features, i.e. "fine-tune this expert".
    """
    zeros, hoyer = sparsity_metrics(features, tol=tol)
    return float(-0.5 * (zeros + hoyer))


def combine_across_zoo(values: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    r"""Feature Metrics across the zoo: equal-weight average of the z-scored measures, negated.

    For experts e with raw measures (a_e, b_e) = ``sparsity_metrics(F_e)``
    (zero fraction, Hoyer sparsity):

        z_a(e) = (a_e - mean_e a) / std_e a     (population std over the experts)
        score(e) = -(z_a(e) + z_b(e)) / 2

    A measure that is constant across the experts (std 0, e.g. a zoo of one)
    has z = 0 for all. The sign follows `feature_metrics`: sparser is worse.

    How the workflow uses it: score each expert's cache with
    ``sparsity_metrics`` (or keep the two values next to the registered
    per-expert ``feature_metrics``), then, for each (target, regime), call
    ``combine_across_zoo({expert: (zero_fraction, hoyer), ...})`` over the
    whole zoo and report those values as the Feature Metrics scores. Scores
    from different zoos or targets are not comparable (they are z-scores).

    Parameters
    ----------
    values : mapping expert name -> (zero_fraction, hoyer_sparsity), finite.

    Returns
    -------
    dict expert name -> combined score, same keys as `values`.
    """
    if not isinstance(values, Mapping) or not values:
        raise ValueError(
            "values must be a non-empty mapping expert -> (zero_fraction, hoyer)"
        )
    names = list(values)
    try:
        table = np.array([[float(v) for v in values[name]] for name in names])
    except (TypeError, ValueError):
        raise ValueError(
            "every value must be a pair of numbers (zero_fraction, hoyer_sparsity)"
        ) from None
    if table.ndim != 2 or table.shape[1] != 2:
        raise ValueError(
            "every value must be a pair of numbers (zero_fraction, hoyer_sparsity)"
        )
    if not np.isfinite(table).all():
        bad = names[int(np.flatnonzero(~np.isfinite(table).all(axis=1))[0])]
        raise ValueError(f"the sparsity measures of expert {bad!r} are not finite")
    centred = table - table.mean(axis=0)
    spread = np.sqrt(np.mean(centred**2, axis=0))
    # A spread at rounding level of the values is a constant measure.
    constant = spread <= 1e-12 * np.maximum(np.abs(table).max(axis=0), 1e-300)
    z = np.divide(centred, spread, out=np.zeros_like(centred), where=~constant)
    combined = -0.5 * z.sum(axis=1)
    return {name: float(score) for name, score in zip(names, combined)}

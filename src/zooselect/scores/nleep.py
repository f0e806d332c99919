"""N-LEEP: LEEP with a Gaussian mixture on the features in place of the source head.

Reference: Y. Li, X. Jia, R. Sang, Y. Zhu, B. Green, L. Wang, B. Gong.
"Ranking Neural Checkpoints", CVPR 2021 (Section 4, "N-LEEP").

A method from later work (not in Deshpande et al. 2021). A function of the
expert's penultimate features and the target labels, deterministic given
`seed`; it never reads files.
"""

from __future__ import annotations

import numbers

import numpy as np

from zooselect.scores._validation import check_features, check_labels, require_classes
from zooselect.scores.leep import leep

# The mixture is fitted with these sklearn settings (its defaults, named here
# so the docstring and tests can refer to them): diagonal covariances, k-means
# initialisation, one initialisation, at most 100 EM iterations.
COVARIANCE_TYPE = "diag"


def n_mixture_components(
    n_samples: int, n_classes: int, components_per_class: int
) -> int:
    """Number of Gaussian components: components_per_class * C, at most N // 2.

    Li et al. use 5 components per target class on training sets with many
    images per class. In few-shot samples that would give about one image per
    component (5 components per class at 5 images per class), and a mixture
    that puts each sample in its own component scores the maximum, 0, for
    any features. Capping at N // 2 keeps at least two samples per component
    on average, so a component is label-pure only if the features put
    same-class samples together.
    """
    return max(1, min(components_per_class * n_classes, n_samples // 2))


def nleep(
    features: np.ndarray,
    labels: np.ndarray,
    seed: int = 0,
    variance: float = 0.8,
    components_per_class: int = 5,
) -> float:
    r"""N-LEEP: LEEP of the labels under a feature Gaussian mixture's posteriors.

    1. PCA of the features F (N x D; centred, not whitened) keeping the
       fewest leading components whose explained variance ratio sums to more
       than `variance` (``PCA(n_components=variance, svd_solver="full")``):
       Z = PCA(F), (N x d').
    2. A Gaussian mixture with K = `n_mixture_components` (N, C, components_per_class)
       = min(components_per_class * C, N // 2) components is fitted to Z by EM
       (``GaussianMixture(n_components=K, covariance_type="diag",
       random_state=seed)``, otherwise sklearn's defaults: k-means init,
       reg_covar 1e-6, tol 1e-3, 100 iterations); C counts the classes present.
    3. Its posteriors P_ik = p(component k | z_i) (N x K) replace the source
       head's softmax in LEEP:  N-LEEP = leep(P, y), i.e.

           P(y, k) = (1/N) sum_{i: y_i = y} P_ik,   P(y | k) = P(y, k) / P(k),
           N-LEEP  = (1/N) sum_i log sum_k P(y_i | k) P_ik.

    Diagonal covariances, not full: after the PCA the d' coordinates are
    decorrelated overall, and each component is estimated from about
    N / K samples (a handful in few-shot regimes), too few for the
    d'(d'+1)/2 parameters of a full covariance; full matrices would be held
    non-singular only by reg_covar and make the posteriors hard and noisy.
    Note that reg_covar is absolute, so features of very small scale
    (variances near 1e-6) are scored as if noisier.

    If all samples have identical features the mixture carries no
    information and the score is the value of any uninformative posterior,
    sum_c (n_c/N) log(n_c/N) = -H(y), returned without fitting.

    Parameters
    ----------
    features : (N, D) array
        Penultimate-layer features of the target samples under one expert;
        finite, N >= 2. N < D is fine (PCA keeps at most N components).
    labels : (N,) integer array
        Target class ids in 0..C-1; at least two distinct classes.
    seed : int
        Non-negative integer seeding the k-means initialisation of the
        mixture; the score is deterministic given the seed.
    variance : float
        Fraction of the feature variance the PCA keeps, in (0, 1); 0.8 as in
        Li et al.
    components_per_class : int
        Mixture components per target class (before the N // 2 cap), >= 1;
        5 as in Li et al.

    Returns
    -------
    float <= 0; larger (closer to 0) means the feature clusters are purer in
    the target labels, i.e. "fine-tune this expert".

    Raises
    ------
    ValueError
        On invalid features, labels or options, or fewer than 2 distinct
        classes (with a single class the score is 0 for every expert).
    """
    feats = check_features(features)
    labs = check_labels(labels, feats.shape[0])
    if (
        isinstance(seed, bool)
        or not isinstance(seed, numbers.Integral)
        or not 0 <= seed < 2**32
    ):
        raise ValueError(f"seed must be an integer in [0, 2**32); got {seed!r}")
    if (
        isinstance(variance, bool)
        or not isinstance(variance, numbers.Real)
        or not 0.0 < float(variance) < 1.0
    ):
        raise ValueError(f"variance must be a fraction in (0, 1); got {variance!r}")
    if (
        isinstance(components_per_class, bool)
        or not isinstance(components_per_class, numbers.Integral)
        or components_per_class < 1
    ):
        raise ValueError(
            "components_per_class must be a positive integer; "
            f"got {components_per_class!r}"
        )
    classes, counts = np.unique(labs, return_counts=True)
    require_classes(
        classes.size, "N-LEEP", "with a single class the score is 0 for every expert"
    )
    n = feats.shape[0]
    if np.ptp(feats, axis=0).max() == 0.0:
        fractions = counts / n
        return float(np.sum(fractions * np.log(fractions)))

    # scikit-learn is imported here: importing the registry stays light for
    # the many short scoring jobs that never run NLEEP.
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    reduced = PCA(n_components=float(variance), svd_solver="full").fit_transform(feats)
    mixture = GaussianMixture(
        n_components=n_mixture_components(n, classes.size, int(components_per_class)),
        covariance_type=COVARIANCE_TYPE,
        random_state=int(seed),
    ).fit(reduced)
    posteriors = mixture.predict_proba(reduced)
    return leep(posteriors, labs)

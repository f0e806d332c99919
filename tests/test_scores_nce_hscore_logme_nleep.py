"""Tests of the scores from later work: NCE, H-score (plain and shrinkage), LogME and N-LEEP.

Every reference value here is computed independently of the module under
test: by hand, by a slow transcription of the definition (explicit loops,
np.linalg.pinv, sklearn's Ledoit-Wolf), or by maximising the LogME evidence
written straight from its formula with a generic optimiser.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.covariance import ledoit_wolf
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from zooselect.scores.hscore import hscore, hscore_regularized
from zooselect.scores.leep import leep
from zooselect.scores.logme import logme
from zooselect.scores.nce import nce
from zooselect.scores.nleep import n_mixture_components, nleep

FEATURE_SCORES = [hscore, hscore_regularized, logme, nleep]


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _blobs(seed: int, n_classes: int = 4, per_class: int = 15, d: int = 6):
    """Well separated class clusters, the same labels with pure-noise features."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    centres = 4.0 * rng.standard_normal((n_classes, d))
    separable = centres[labels] + rng.standard_normal((labels.size, d))
    noise = rng.standard_normal((labels.size, d))
    return separable, noise, labels


# ---------------------------------------------------------------- NCE


def test_nce_small_case_by_hand():
    # Source argmax z and target label y of six samples:
    #   z: 0 0 0 1 1 2       source class 3 is nobody's argmax
    #   y: 0 0 1 1 1 0
    # Counts n(y, z):   z=0  z=1  z=2
    #            y=0     2    0    1
    #            y=1     1    2    0
    # P(z) = (3, 2, 1)/6; P(y|z=0) = (2/3, 1/3), P(y|z=1) = (0, 1), P(y|z=2) = (1, 0)
    # -H(Y|Z) = sum P(y,z) log P(y|z)
    #         = 2/6 log(2/3) + 1/6 log(1/3) + 2/6 log 1 + 1/6 log 1
    z = np.array([0, 0, 0, 1, 1, 2])
    labels = np.array([0, 0, 1, 1, 1, 0])
    probs = np.full((6, 4), 0.1)
    probs[np.arange(6), z] = 0.7
    expected = 2 / 6 * math.log(2 / 3) + 1 / 6 * math.log(1 / 3)
    assert nce(probs, labels) == pytest.approx(expected, abs=1e-15)


def test_nce_depends_only_on_the_argmax():
    rng = np.random.default_rng(20)
    labels = rng.integers(0, 3, size=50)
    probs = _softmax(rng.standard_normal((50, 7)))
    sharper = _softmax(5.0 * np.log(probs))  # same argmax, different probabilities
    assert np.array_equal(probs.argmax(axis=1), sharper.argmax(axis=1))
    assert nce(sharper, labels) == pytest.approx(nce(probs, labels), abs=1e-15)


def test_nce_deterministic_predictions_outscore_random_ones():
    rng = np.random.default_rng(21)
    labels = rng.integers(0, 4, size=120)
    # The source head's argmax determines the target label (two source classes
    # per target class): H(Y|Z) = 0.
    source_class = 2 * labels + rng.integers(0, 2, size=120)
    determining = _softmax(
        3.0 * np.eye(8)[source_class] + 0.1 * rng.standard_normal((120, 8))
    )
    random_head = _softmax(rng.standard_normal((120, 8)))
    assert nce(determining, labels) == pytest.approx(0.0, abs=1e-15)
    assert nce(determining, labels) > nce(random_head, labels) + 0.5
    # A head whose argmax is the same for every sample knows nothing: -H(Y).
    constant = np.tile([0.6, 0.4], (120, 1))
    fractions = np.bincount(labels) / 120
    assert nce(constant, labels) == pytest.approx(
        np.sum(fractions * np.log(fractions)), abs=1e-14
    )


def test_nce_invariant_to_relabelling_classes():
    rng = np.random.default_rng(22)
    probs = _softmax(rng.standard_normal((80, 9)))
    labels = rng.integers(0, 5, size=80)
    permutation = np.array([3, 0, 4, 1, 2])
    assert nce(probs, permutation[labels]) == pytest.approx(
        nce(probs, labels), abs=1e-14
    )
    # Unused class ids change nothing either.
    assert nce(probs, 2 * labels) == pytest.approx(nce(probs, labels), abs=1e-14)


def test_nce_edge_cases():
    rng = np.random.default_rng(23)
    probs = _softmax(rng.standard_normal((10, 40)))  # more source classes than samples
    labels = np.array([0, 0, 1, 1, 1, 1, 2, 2, 2, 2])  # class 0 has exactly 2 images
    assert -math.log(3) <= nce(probs, labels) <= 0.0
    with pytest.raises(ValueError, match="at least 2 classes"):
        nce(probs, np.full(10, 4))
    bad = probs.copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        nce(bad, labels)
    with pytest.raises(ValueError, match="at least 2 samples"):
        nce(np.empty((0, 3)), np.array([], dtype=int))
    with pytest.raises(ValueError, match="sum to 1"):
        nce(rng.standard_normal((10, 4)) ** 2, labels)


# ---------------------------------------------------------------- H-score


def _cov_by_loops(x: np.ndarray) -> np.ndarray:
    mean = sum(x[i] for i in range(len(x))) / len(x)
    return sum(np.outer(x[i] - mean, x[i] - mean) for i in range(len(x))) / (len(x) - 1)


def _class_mean_rows(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """G: every sample replaced by the mean feature of its class (explicit loops)."""
    g = np.zeros_like(features, dtype=np.float64)
    for c in set(labels.tolist()):
        members = [i for i in range(len(labels)) if labels[i] == c]
        mean_c = sum(features[i] for i in members) / len(members)
        for i in members:
            g[i] = mean_c
    return g


def _hscore_slow(features: np.ndarray, labels: np.ndarray) -> float:
    """tr(pinv(cov F) cov G), straight from the definition."""
    cov_f = _cov_by_loops(features)
    cov_g = _cov_by_loops(_class_mean_rows(features, labels))
    return float(np.trace(np.linalg.pinv(cov_f) @ cov_g))


def _hscore_regularized_slow(features: np.ndarray, labels: np.ndarray) -> float:
    """tr(S_LW^-1 (1 - delta) cov G) with sklearn's Ledoit-Wolf estimate (1/N, centred)."""
    shrunk, delta = ledoit_wolf(features)
    n = len(features)
    cov_g = (
        _cov_by_loops(_class_mean_rows(features, labels)) * (n - 1) / n
    )  # 1/N like S
    return float(np.trace(np.linalg.inv(shrunk) @ ((1.0 - delta) * cov_g)))


@pytest.mark.parametrize(
    ("n", "d", "n_classes"), [(30, 4, 3), (60, 10, 5), (25, 1, 2), (12, 11, 3)]
)
def test_hscore_matches_slow_transcription(n, d, n_classes):
    rng = np.random.default_rng(100 * n + d)
    labels = np.arange(n) % n_classes
    features = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + rng.uniform(
        -3, 3, d
    )
    features[labels == 1] += 0.7
    assert hscore(features, labels) == pytest.approx(
        _hscore_slow(features, labels), rel=1e-9
    )


@pytest.mark.parametrize(
    ("n", "d", "n_classes"), [(30, 4, 3), (60, 10, 5), (12, 30, 3), (20, 64, 4)]
)
def test_hscore_regularized_matches_ledoit_wolf_transcription(n, d, n_classes):
    rng = np.random.default_rng(200 * n + d)
    labels = np.arange(n) % n_classes
    features = rng.standard_normal((n, d)) * rng.uniform(0.1, 3, d) + rng.uniform(
        -3, 3, d
    )
    features[labels == 1] += 0.7
    expected = _hscore_regularized_slow(features, labels)
    assert hscore_regularized(features, labels) == pytest.approx(expected, rel=1e-9)


def test_hscore_is_c_minus_1_when_n_le_d(caplog):
    # With N <= D the centred features span the whole (N-1)-dim centred sample
    # space, so projecting the centred class indicators e_c onto it changes
    # nothing: H = sum_c ||e_c||^2 / n_c = sum_c (1 - n_c/N) = C - 1, whatever
    # the features. The shrinkage score stays informative.
    # (Features in general position: a rank below N - 1 would escape this.)
    rng = np.random.default_rng(30)
    labels = np.repeat(np.arange(3), 4)
    separable = 4.0 * rng.standard_normal((3, 40))[labels] + 0.5 * rng.standard_normal(
        (12, 40)
    )
    noise = rng.standard_normal((12, 40))
    with caplog.at_level(logging.WARNING, logger="zooselect.scores.hscore"):
        assert hscore(separable, labels) == pytest.approx(2.0, abs=1e-9)
        assert hscore(noise, labels) == pytest.approx(2.0, abs=1e-9)
    assert "cannot rank" in caplog.text
    assert (
        hscore_regularized(separable, labels) > hscore_regularized(noise, labels) + 0.3
    )


def test_hscore_bounds_and_shrinkage_order():
    separable, noise, labels = _blobs(33)
    for features in (separable, noise):
        plain = hscore(features, labels)
        shrunk = hscore_regularized(features, labels)
        assert 0.0 <= shrunk <= plain <= 3.0 + 1e-12  # C - 1 = 3


@pytest.mark.parametrize("score", [hscore, hscore_regularized])
def test_hscore_invariances(score):
    rng = np.random.default_rng(34)
    features = rng.standard_normal((50, 7))
    labels = rng.integers(0, 4, size=50)
    reference = score(features, labels)
    permutation = np.array([2, 3, 1, 0])
    assert score(features, permutation[labels]) == pytest.approx(reference, rel=1e-10)
    assert score(features, 3 * labels) == pytest.approx(
        reference, rel=1e-10
    )  # unused ids
    assert score(1e3 * features - 5.0, labels) == pytest.approx(reference, rel=1e-10)
    rotation, _ = np.linalg.qr(rng.standard_normal((7, 7)))
    assert score(features @ rotation, labels) == pytest.approx(reference, rel=1e-10)
    if score is hscore:  # the plain H-score is invariant to any invertible linear map
        mixing = rng.standard_normal((7, 7))
        assert score(features @ mixing, labels) == pytest.approx(reference, rel=1e-8)


@pytest.mark.parametrize("score", [hscore, hscore_regularized])
def test_hscore_separable_features_outscore_noise(score):
    separable, noise, labels = _blobs(35)
    assert score(separable, labels) > score(noise, labels) + 1.0


@pytest.mark.parametrize("score", [hscore, hscore_regularized])
def test_hscore_edge_cases(score):
    rng = np.random.default_rng(36)
    features = rng.standard_normal((9, 3))
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])  # class 0 has exactly 2 images
    assert 0.0 <= score(features, labels) <= 2.0
    # Constant features carry no between-class variance: score 0, not a
    # pseudo-inverse of rounding noise.
    assert score(np.tile([0.1, 0.7, -3.3], (9, 1)), labels) == 0.0
    with pytest.raises(ValueError, match="at least 2 classes"):
        score(features, np.zeros(9, dtype=int))
    features[4, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        score(features, labels)
    with pytest.raises(ValueError, match="at least 2 samples"):
        score(np.empty((0, 3)), np.array([], dtype=int))


# ---------------------------------------------------------------- LogME


def _log_evidence(
    log_alpha: float, log_beta: float, features: np.ndarray, y: np.ndarray
) -> float:
    """L(alpha, beta) written directly from the formula, with the full D x D matrix A."""
    alpha, beta = math.exp(log_alpha), math.exp(log_beta)
    n, d = features.shape
    a = alpha * np.eye(d) + beta * features.T @ features
    m = beta * np.linalg.solve(a, features.T @ y)
    _, log_det_a = np.linalg.slogdet(a)
    return (
        d / 2 * log_alpha
        + n / 2 * log_beta
        - n / 2 * math.log(2 * math.pi)
        - beta / 2 * np.sum((features @ m - y) ** 2)
        - alpha / 2 * m @ m
        - log_det_a / 2
    )


def _logme_generic(
    features: np.ndarray, labels: np.ndarray
) -> tuple[float, list[np.ndarray]]:
    """Mean over classes of max L / N by Nelder-Mead in (log alpha, log beta), and the argmaxes."""
    n = features.shape[0]
    evidences, argmaxes = [], []
    for c in np.unique(labels):
        y = (labels == c).astype(np.float64)
        best = None
        for start in ([0.0, 0.0], [3.0, 1.0], [-2.0, 3.0]):
            result = minimize(
                lambda x: -_log_evidence(x[0], x[1], features, y),
                np.array(start),
                method="Nelder-Mead",
                options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 5000},
            )
            if best is None or result.fun < best.fun:
                best = result
        evidences.append(-best.fun / n)
        argmaxes.append(best.x)
    return float(np.mean(evidences)), argmaxes


def _logme_case(seed: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """N = 10 < D = 30: class signal of size `scale` plus noise of uneven scale per dimension."""
    rng = np.random.default_rng(seed)
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    signal = rng.standard_normal((3, 30))
    features = scale * signal[labels] + rng.standard_normal((10, 30)) * rng.uniform(
        0.3, 2, 30
    )
    return features, labels


def _evidence_with_k_singular_values(log_alpha, log_beta, features, y) -> float:
    """The evidence as the widely used fixed-point LogME evaluates it: log det A from
    the k = min(N, D) singular values of F only, so -(D - k)/2 log(alpha) is missing."""
    alpha, beta = math.exp(log_alpha), math.exp(log_beta)
    n, d = features.shape
    u, s, vt = np.linalg.svd(features, full_matrices=False)
    sigma2 = s**2
    m = vt.T @ (beta * s * (u.T @ y) / (alpha + beta * sigma2))
    return (
        d / 2 * log_alpha
        + n / 2 * log_beta
        - 0.5 * np.sum(np.log(alpha + beta * sigma2))
        - beta / 2 * np.sum((features @ m - y) ** 2)
        - alpha / 2 * m @ m
        - n / 2 * math.log(2 * math.pi)
    )


def test_logme_matches_generic_optimiser_when_n_greater_than_d():
    rng = np.random.default_rng(40)
    labels = np.arange(40) % 3
    features = rng.standard_normal((3, 8))[labels] + rng.standard_normal(
        (40, 8)
    ) * rng.uniform(0.3, 2, 8)
    expected, _ = _logme_generic(features, labels)
    assert logme(features, labels) == pytest.approx(expected, abs=1e-8)


def test_logme_matches_generic_optimiser_when_n_less_than_d():
    # For this draw every class's maximum is interior (finite alpha, beta).
    features, labels = _logme_case(seed=5, scale=0.5)
    expected, argmaxes = _logme_generic(features, labels)
    assert logme(features, labels) == pytest.approx(expected, abs=1e-8)
    # At the same (alpha, beta) the evidence evaluated from the k = N = 10
    # singular values lacks -(D - k)/2 log(alpha), D = 30, and is far off:
    naive = np.mean(
        [
            _evidence_with_k_singular_values(
                *x, features, (labels == c).astype(np.float64)
            )
            / 10
            for c, x in enumerate(argmaxes)
        ]
    )
    dropped = np.mean([-(30 - 10) / 2 * x[0] / 10 for x in argmaxes])
    assert abs(naive - expected) > 1.0
    assert naive + dropped == pytest.approx(expected, abs=1e-8)


def test_logme_noise_free_limit_when_n_less_than_d():
    # For this draw the evidence of every class keeps growing as the noise
    # precision beta -> infinity (lambda = alpha/beta -> 0), where the model is
    # y ~ N(0, alpha^-1 F F^T); maximised over alpha (alpha = N/q):
    #   N/2 log(N/q) - N/2 - N/2 log(2 pi) - 1/2 log det(F F^T),  q = y^T (F F^T)^-1 y.
    features, labels = _logme_case(seed=3, scale=1.0)
    gram = features @ features.T
    _, log_det = np.linalg.slogdet(gram)
    limits = []
    for c in range(3):
        y = (labels == c).astype(np.float64)
        q = y @ np.linalg.solve(gram, y)
        limits.append(
            (5 * math.log(10 / q) - 5 - 5 * math.log(2 * math.pi) - log_det / 2) / 10
        )
    assert logme(features, labels) == pytest.approx(np.mean(limits), abs=1e-8)
    # ... and no finite (alpha, beta) does better than that limit.
    for c in range(3):
        y = (labels == c).astype(np.float64)
        for log_alpha, log_beta in [(5.0, 5.0), (6.0, 12.0), (4.0, 2.0)]:
            assert (
                _log_evidence(log_alpha, log_beta, features, y) / 10 < limits[c] + 1e-9
            )


def test_logme_noise_only_limit():
    # Features that explain nothing: the maximum is alpha -> infinity (w = 0),
    # y ~ N(0, beta^-1 I) with beta = N / n_c: -N/2 log(2 pi n_c / N) - N/2 per class.
    features, labels = _logme_case(seed=3, scale=0.0)
    limits = [(-5 * math.log(2 * math.pi * n_c / 10) - 5) / 10 for n_c in (4, 3, 3)]
    assert logme(features, labels) == pytest.approx(np.mean(limits), abs=1e-8)
    # All-zero features give exactly that model.
    assert logme(np.zeros((10, 30)), labels) == pytest.approx(
        np.mean(limits), abs=1e-12
    )


@pytest.mark.parametrize(("n", "d"), [(40, 8), (10, 30)])
def test_logme_unchanged_by_zero_feature_columns(n, d):
    # Dead units add directions F does not reach: the exact evidence gains
    # D' - D copies of 1/2 log(alpha) - 1/2 log(alpha) = 0. (Evaluating with
    # the k singular values only would add (D' - D)/2 log(alpha).)
    rng = np.random.default_rng(41)
    labels = np.arange(n) % 3
    features = rng.standard_normal((3, d))[labels] + rng.standard_normal((n, d))
    padded = np.hstack([features, np.zeros((n, 25))])
    assert logme(padded, labels) == pytest.approx(logme(features, labels), abs=1e-10)


def test_logme_invariances():
    rng = np.random.default_rng(42)
    features = rng.standard_normal((45, 6)) + 1.0
    labels = rng.integers(0, 4, size=45)
    reference = logme(features, labels)
    assert logme(features, np.array([1, 3, 0, 2])[labels]) == pytest.approx(
        reference, abs=1e-10
    )
    assert logme(features, 2 * labels) == pytest.approx(
        reference, abs=1e-10
    )  # unused ids
    for scale in (1e-3, 1e4):  # lambda and its search range scale with F
        assert logme(scale * features, labels) == pytest.approx(reference, abs=1e-9)


def test_logme_separable_features_outscore_noise():
    separable, noise, labels = _blobs(43)
    assert logme(separable, labels) > logme(noise, labels) + 0.2


def test_logme_edge_cases():
    rng = np.random.default_rng(44)
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])  # class 0 has exactly 2 images
    for d in (3, 50):  # N > D and N < D
        assert np.isfinite(logme(rng.standard_normal((9, d)), labels))
    with pytest.raises(ValueError, match="at least 2 classes"):
        logme(rng.standard_normal((9, 3)), np.ones(9, dtype=int))
    with pytest.raises(ValueError, match="NaN or infinite"):
        logme(np.full((9, 3), np.nan), labels)
    with pytest.raises(ValueError, match="at least 2 samples"):
        logme(np.empty((0, 3)), np.array([], dtype=int))


# ---------------------------------------------------------------- N-LEEP


def _nleep_by_hand(features, labels, seed, variance=0.8, components_per_class=5):
    reduced = PCA(n_components=variance, svd_solver="full").fit_transform(
        features.astype(np.float64)
    )
    n_classes = np.unique(labels).size
    k = min(components_per_class * n_classes, len(labels) // 2)
    mixture = GaussianMixture(
        n_components=k, covariance_type="diag", random_state=seed
    ).fit(reduced)
    return leep(mixture.predict_proba(reduced), labels)


@pytest.mark.parametrize("seed", [0, 3])
def test_nleep_is_leep_on_mixture_posteriors(seed):
    separable, _, labels = _blobs(50, n_classes=3, per_class=20, d=8)
    assert nleep(separable, labels, seed=seed) == pytest.approx(
        _nleep_by_hand(separable, labels, seed), abs=1e-12
    )
    assert nleep(
        separable, labels, seed=seed, variance=0.5, components_per_class=2
    ) == pytest.approx(
        _nleep_by_hand(separable, labels, seed, variance=0.5, components_per_class=2),
        abs=1e-12,
    )


def test_nleep_is_deterministic_for_a_seed():
    rng = np.random.default_rng(51)
    features = rng.standard_normal((60, 10))
    labels = rng.integers(0, 3, size=60)
    values = {nleep(features, labels, seed=7) for _ in range(3)}
    assert len(values) == 1


def test_nleep_invariant_to_relabelling_classes():
    rng = np.random.default_rng(52)
    features = rng.standard_normal((60, 5))
    labels = rng.integers(0, 3, size=60)
    reference = nleep(features, labels)
    assert nleep(features, np.array([2, 0, 1])[labels]) == pytest.approx(
        reference, abs=1e-12
    )
    assert nleep(features, 4 * labels) == pytest.approx(
        reference, abs=1e-12
    )  # unused ids


def test_nleep_separable_features_outscore_noise():
    separable, noise, labels = _blobs(53)
    assert nleep(separable, labels) > nleep(noise, labels) + 0.3


def test_nleep_component_cap_in_few_shot_samples():
    # 5 images per class: 5 components per class would give one image per
    # component; the cap keeps at least two per component on average.
    assert n_mixture_components(15, 3, 5) == 7
    assert n_mixture_components(300, 3, 5) == 15
    assert n_mixture_components(2, 2, 5) == 1
    rng = np.random.default_rng(54)
    labels = np.repeat(np.arange(3), 5)
    features = rng.standard_normal((15, 40))  # N < D too
    assert nleep(features, labels) == pytest.approx(
        _nleep_by_hand(features, labels, 0), abs=1e-12
    )


def test_nleep_edge_cases():
    rng = np.random.default_rng(55)
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])  # class 0 has exactly 2 images
    assert nleep(rng.standard_normal((9, 4)), labels) <= 0.0
    # Identical feature vectors: the uninformative value -H(y).
    fractions = np.array([2, 3, 4]) / 9
    assert nleep(np.ones((9, 4)), labels) == pytest.approx(
        np.sum(fractions * np.log(fractions))
    )
    with pytest.raises(ValueError, match="at least 2 classes"):
        nleep(rng.standard_normal((9, 4)), np.zeros(9, dtype=int))
    with pytest.raises(ValueError, match="NaN or infinite"):
        nleep(np.full((9, 4), -np.inf), labels)
    with pytest.raises(ValueError, match="at least 2 samples"):
        nleep(np.empty((0, 4)), np.array([], dtype=int))
    for option, value in [
        ("variance", 1.0),
        ("variance", 0),
        ("seed", -1),
        ("seed", 1.5),
        ("components_per_class", 0),
        ("components_per_class", True),
    ]:
        with pytest.raises(ValueError, match=option):
            nleep(rng.standard_normal((9, 4)), labels, **{option: value})


# ---------------------------------------------------------------- all feature scores


@pytest.mark.parametrize("score", FEATURE_SCORES)
def test_feature_scores_return_python_floats_and_accept_float32(score):
    separable, _, labels = _blobs(60, n_classes=3, per_class=10, d=5)
    value = score(separable.astype(np.float32), labels)
    assert isinstance(value, float) and math.isfinite(value)

"""Methods the field added since 2022: k-NN, ETran, NCTI, and the mean rank over methods.

Each is checked against values worked out by hand or against a slow, direct
transcription of its definition written here (loops, no shared code with the
implementation), plus its invariances and edge cases. The cross-method
promises (finite or a clear ValueError, relabelling) are in
test_scores_contract.py.
"""

from __future__ import annotations

import math
from importlib import import_module

import numpy as np
import pytest
import scipy.linalg
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.neighbors import KNeighborsClassifier

from zooselect.scores import METHODS, ZooTerms, compute_score, min_max_combination
from zooselect.scores.etran import energy_score, etran, lda_score, svd_score
from zooselect.scores.knn import knn
from zooselect.scores.mean_rank import MethodScores, combine_ranks
from zooselect.scores.ncti import ncti
from zooselect.selection import score_zoo

# The module itself (the package's name `knn` is the function).
knn_module = import_module("zooselect.scores.knn")


def _case(
    seed: int, n: int, d: int, n_classes: int, signal: float = 0.8, scale: float = 1.0
):
    """Seeded features with some class signal; every class present, labels shuffled."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    features = scale * (
        rng.standard_normal((n, d))
        + signal * rng.standard_normal((n_classes, d))[labels]
    )
    return features, labels


# ---------------------------------------------------------------- k-NN


def _knn_reference(features, labels, k, distance):
    """Leave-one-out k-NN transcribed with loops: sort the others by (distance, index), vote."""
    n = len(labels)
    k = min(k, n - 1)
    correct = 0
    for i in range(n):
        ranked = []
        for j in range(n):
            if j == i:
                continue
            a, b = features[i], features[j]
            if distance == "euclidean":
                d = math.dist(a, b)
            else:
                norms = np.linalg.norm(a) * np.linalg.norm(b)
                d = 1.0 - (a @ b / norms if norms > 0 else 0.0)
            ranked.append((d, j))
        ranked.sort()
        voters = [labels[j] for _, j in ranked[:k]]
        counts = {c: voters.count(c) for c in voters}
        best = max(counts.values())
        predicted = next(
            c for c in voters if counts[c] == best
        )  # nearest of the tied classes
        correct += predicted == labels[i]
    return correct / n


def test_knn_small_case_by_hand():
    # 1-D points 0, 0.9, 2 (classes 0, 0, 1) and 10, 11, 13 (classes 1, 1, 0); euclidean.
    x = np.array([[0.0], [0.9], [2.0], [10.0], [11.0], [13.0]])
    labels = np.array([0, 0, 1, 1, 1, 0])
    # k = 1: 0 -> 0.9 (class 0, right), 0.9 -> 0 (right), 2 -> 0.9 (wrong), 10 -> 11 (right),
    # 11 -> 10 (right), 13 -> 11 (wrong).
    assert knn(x, labels, k=1, distance="euclidean") == pytest.approx(4 / 6)
    # k = 2: 0 -> {0.9, 2}, a tie won by the nearer 0.9 (right); 0.9 -> {0, 2}, 0 nearer (right);
    # 2 -> {0.9, 0} (wrong); 10 -> {11, 13}, 11 nearer (right); 11 -> {10, 13}, 10 nearer
    # (right); 13 -> {11, 10} (wrong).
    assert knn(x, labels, k=2, distance="euclidean") == pytest.approx(4 / 6)
    # k = 5 (everyone else votes): each image sees 2 of its own class against 3 of the other.
    assert knn(x, labels, k=5, distance="euclidean") == 0.0
    assert knn(x, labels, k=50, distance="euclidean") == 0.0  # k capped at N - 1 = 5


@pytest.mark.parametrize(("n", "d", "n_classes", "k", "distance"), [
    (40, 5, 3, 1, "euclidean"), (40, 5, 3, 7, "cosine"), (33, 12, 4, 4, "euclidean"), (25, 30, 5, 10, "cosine"),
])  # fmt: skip
def test_knn_matches_slow_transcription(n, d, n_classes, k, distance):
    features, labels = _case(7 * n + k, n, d, n_classes)
    assert knn(features, labels, k=k, distance=distance) == pytest.approx(
        _knn_reference(features, labels, k, distance), abs=1e-12
    )


def test_knn_agrees_with_sklearn_leave_one_out_without_vote_ties():
    # Two classes and odd k: no vote ties, so sklearn's rule (lowest label) cannot differ.
    features, labels = _case(4, 60, 6, 2, signal=0.5)
    for distance in ("euclidean", "cosine"):
        hits = 0
        for i in range(60):
            keep = np.arange(60) != i
            model = KNeighborsClassifier(
                n_neighbors=5, metric=distance, algorithm="brute"
            )
            hits += (
                model.fit(features[keep], labels[keep]).predict(features[i : i + 1])[0]
                == labels[i]
            )
        assert knn(features, labels, k=5, distance=distance) == pytest.approx(hits / 60)


def test_knn_blocks_of_rows_give_the_same_score(monkeypatch):
    features, labels = _case(5, 57, 9, 4)
    whole = knn(features, labels, k=6, distance="euclidean")
    monkeypatch.setattr(
        knn_module, "_BLOCK_ELEMENTS", 5 * 57
    )  # blocks of 5 rows, the last one short
    assert knn(features, labels, k=6, distance="euclidean") == whole


def test_knn_invariances():
    features, labels = _case(6, 45, 7, 3, signal=0.6)
    rotation, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((7, 7)))
    order = np.random.default_rng(2).permutation(45)
    for distance in ("euclidean", "cosine"):
        value = knn(features, labels, k=5, distance=distance)
        assert knn(features @ rotation, labels, k=5, distance=distance) == value
        assert knn(features[order], labels[order], k=5, distance=distance) == value
        assert (
            knn(features, np.array([2, 0, 1])[labels], k=5, distance=distance) == value
        )
        assert knn(3.0 * features, labels, k=5, distance=distance) == value
    assert knn(features + 5.0, labels, k=5, distance="euclidean") == knn(
        features, labels, k=5, distance="euclidean"
    )
    scales = np.random.default_rng(3).uniform(0.1, 10.0, size=(45, 1))
    assert knn(scales * features, labels, k=5) == knn(
        features, labels, k=5
    )  # cosine: per-image scale


def test_knn_separable_features_outscore_noise_and_edge_cases():
    rng = np.random.default_rng(8)
    labels = np.repeat(np.arange(3), 20)
    separable = 4.0 * np.eye(3, 6)[labels] + rng.standard_normal((60, 6))
    assert knn(separable, labels) == 1.0
    assert knn(rng.standard_normal((60, 6)), labels) < 0.6
    relu = np.maximum(separable - 2.0, 0.0)
    relu[0] = (
        0.0  # an all-zero feature vector: no direction, similarity 0 to everything
    )
    assert 0.0 <= knn(relu, labels) <= 1.0
    assert knn(np.ones((4, 3)), np.array([0, 0, 1, 1]), k=1) in (
        0.0,
        0.5,
        1.0,
    )  # all equidistant
    with pytest.raises(ValueError, match="at least 2 classes"):
        knn(separable, np.zeros(60, dtype=int))
    for bad in (0, -1, 2.0, True, "5"):
        with pytest.raises(ValueError, match="k must"):
            knn(separable, labels, k=bad)
    with pytest.raises(ValueError, match="distance must be one of cosine, euclidean"):
        knn(separable, labels, distance="manhattan")
    assert (
        compute_score(
            "knn",
            {"features": separable, "labels": labels},
            {"k": 3, "distance": "euclidean"},
        )
        == 1.0
    )
    assert METHODS["knn"].options == {"k": 20, "distance": "cosine"}


# ---------------------------------------------------------------- across the zoo


def test_min_max_combination_by_hand():
    terms = {
        "a": ZooTerms({"energy": 1.0, "lda": 0.2}, {"energy": 0.15, "lda": 0.85}),
        "b": ZooTerms({"energy": 2.0, "lda": 0.8}, {"energy": 0.15, "lda": 0.85}),
        "c": ZooTerms({"energy": 3.0, "lda": 0.5}, {"energy": 0.15, "lda": 0.85}),
    }
    # energy scales to 0, 0.5, 1 and lda to 0, 1, 0.5.
    assert min_max_combination(terms) == pytest.approx(
        {"a": 0.0, "b": 0.925, "c": 0.575}
    )
    signed = {
        e: ZooTerms({"x": v, "y": 7.0}, {"x": -1.0, "y": 1.0})
        for e, v in (("a", 0.0), ("b", 4.0))
    }
    assert min_max_combination(signed) == pytest.approx(
        {"a": 0.0, "b": -1.0}
    )  # y constant: 0
    assert min_max_combination({"only": terms["a"]}) == {"only": 0.0}
    with_failure = min_max_combination({**terms, "broken": math.nan})
    assert math.isnan(with_failure.pop("broken")) and with_failure == pytest.approx(
        min_max_combination(terms)
    )
    with pytest.raises(ValueError, match="other terms or weights"):
        min_max_combination(
            {
                "a": terms["a"],
                "z": ZooTerms({"energy": 1.0, "lda": 0.2}, {"energy": 1.0, "lda": 0.0}),
            }
        )
    with pytest.raises(ValueError, match="not finite"):
        min_max_combination(
            {
                "a": terms["a"],
                "z": ZooTerms({"energy": math.inf, "lda": 0.2}, terms["a"].weights),
            }
        )
    with pytest.raises(ValueError, match="one weight for each"):
        ZooTerms({"x": 1.0}, {"y": 1.0})


# ---------------------------------------------------------------- ETran


def _energy_reference(features, fraction):
    values = sorted(math.log(sum(math.exp(v) for v in row)) for row in features)
    count = max(1, (round(fraction * 1000) * len(values)) // 1000)
    return sum(values[:count]) / count


def _etran_lda_released_transcription(features, labels):
    """The released ``LDA_Score``: SFDA's shrinkage, then ``np.linalg.eigh`` of inv(S~_W) S~_B as the code calls it."""
    n, d = features.shape
    classes = sorted(set(labels.tolist()))
    priors = np.array([np.mean(labels == c) for c in classes])
    means = np.array([features[labels == c].mean(axis=0) for c in classes])
    within = np.zeros((d, d))
    for c, prior in zip(classes, priors):
        members = features[labels == c]
        within += (
            prior
            * sum(np.outer(r - means[c], r - means[c]) for r in members)
            / len(members)
        )
    v = within.sum(axis=1)
    for _ in range(3):
        u = within @ v / np.linalg.norm(within @ v)
        v = within @ u / np.linalg.norm(within @ u)
    shrinkage = max(math.exp(-5.0 * (v @ within @ u)), 1e-10)
    centred = features - features.mean(axis=0)

    def shrunk(scatter):
        return (1 - shrinkage) * scatter + shrinkage * np.trace(scatter) / d * np.eye(d)

    product = np.linalg.inv(shrunk(within)) @ (
        shrunk(centred.T @ centred / n) - shrunk(within)
    )
    _, vectors = np.linalg.eigh(product)  # not symmetric: eigh reads one triangle
    coef = means @ vectors @ vectors.T
    intercept = -0.5 * np.diag(means @ coef.T) + np.log(priors)
    probs = _softmax_rows(features @ coef.T + intercept)
    return float(np.mean([probs[i, classes.index(labels[i])] for i in range(n)]))


def _softmax_rows(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _svd_reference(features, labels, energy):
    onehot = np.eye(labels.max() + 1)[labels]
    u, s, _ = np.linalg.svd(features, full_matrices=False)
    s = s[s > 1e-12 * s[0]]
    rank = next(
        r
        for r in range(1, s.size + 1)
        if np.sum(s[:r] ** 2) >= energy * np.sum(s**2) - 1e-12
    )
    fitted = u[:, :rank] @ (u[:, :rank].T @ onehot)
    return -float(np.mean((onehot - fitted) ** 2))


def test_energy_score_by_hand_and_the_codes_count():
    # log-sum-exp of the rows: log 2, log 4, 1 + log 2.
    x = np.array([[0.0, 0.0], [math.log(3.0), 0.0], [1.0, 1.0]])
    assert energy_score(x) == pytest.approx(
        math.log(2.0)
    )  # 5 * 3 // 1000 = 0: one image all the same
    assert energy_score(x, fraction=2 / 3) == pytest.approx(
        (math.log(2.0) + math.log(4.0)) / 2
    )
    assert energy_score(x, fraction=1.0) == pytest.approx(
        (2 * math.log(2.0) + math.log(4.0) + 1.0) / 3
    )
    rng = np.random.default_rng(0)
    for n in (199, 200, 600, 1400):  # 5 N // 1000 lowest: 0 (one here), 1, 3, 7
        features = rng.standard_normal((n, 4))
        assert energy_score(features) == pytest.approx(
            _energy_reference(features, 0.005), abs=1e-12
        )
    for bad in (0.0, 1.5, "0.5", True):
        with pytest.raises(ValueError, match="energy_fraction"):
            energy_score(x, fraction=bad)


def test_lda_score_by_hand():
    # 1-D, class 0 at {0, 4}, class 1 at {8, 12}: means 2, 10, pooled variance 4, priors 1/2.
    x = np.array([[0.0], [4.0], [8.0], [12.0]])
    labels = np.array([0, 0, 1, 1])
    sig = lambda t: 1.0 / (1.0 + math.exp(-t))  # noqa: E731
    # identity: p(1 | x) = sigmoid(x (10 - 2) - (100 - 4) / 2) = sigmoid(8x - 48).
    assert lda_score(x, labels) == pytest.approx(
        (2 * sig(48) + 2 * sig(16)) / 4, abs=1e-12
    )
    # shrunk: in 1-D S~_W = S_W = 4 whatever lambda, so the logits are divided by 4.
    assert lda_score(x, labels, covariance="shrunk") == pytest.approx(
        (2 * sig(12) + 2 * sig(4)) / 4, abs=1e-12
    )


@pytest.mark.parametrize(
    ("n", "d", "n_classes", "scale"),
    [(60, 5, 3, 1.0), (40, 8, 4, 0.2), (20, 30, 2, 1.0)],
)
def test_lda_score_is_what_the_released_code_computes(n, d, n_classes, scale):
    features, labels = _case(11 * n + d, n, d, n_classes, scale=scale)
    assert lda_score(features, labels) == pytest.approx(
        _etran_lda_released_transcription(features, labels), abs=1e-9
    )


def test_svd_score_by_hand():
    # Rows e1, e1, e1, e2 with labels 0, 0, 1, 1: squared singular values 3 and 1 (75 % and 25 %).
    x = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = np.array([0, 0, 1, 1])
    # Both directions (energy 0.8 needs the second): residuals 2/3 per label column -> -(4/3) / 8.
    assert svd_score(x, labels) == pytest.approx(-1 / 6, abs=1e-12)
    # One direction (0.75 >= 0.7): column 1 also misses the 4th row: 2/3 + 5/3 -> -(7/3) / 8.
    assert svd_score(x, labels, energy=0.7) == pytest.approx(-7 / 24, abs=1e-12)
    wide = np.hstack(
        [x, np.zeros((4, 5))]
    )  # N < D: the other Gram matrix, the same values
    assert svd_score(wide, labels) == pytest.approx(-1 / 6, abs=1e-12)
    assert svd_score(np.zeros((4, 3)), labels) == pytest.approx(
        -0.5
    )  # nothing fitted: -||Y||^2 / (N C)


@pytest.mark.parametrize(
    ("n", "d", "energy"), [(50, 6, 0.8), (50, 6, 1.0), (15, 40, 0.8), (15, 40, 1.0)]
)
def test_svd_score_matches_a_truncated_svd(n, d, energy):
    features, labels = _case(n + d, n, d, 3)
    assert svd_score(features, labels, energy=energy) == pytest.approx(
        _svd_reference(features, labels, energy), abs=1e-10
    )
    if n < d and energy == 1.0:
        assert svd_score(features, labels, energy=energy) == pytest.approx(
            0.0, abs=1e-10
        )  # fits exactly


def test_etran_terms_and_their_combination_across_the_zoo():
    features, labels = _case(21, 80, 10, 4)
    terms = etran(features, labels)
    assert terms.weights == {
        "energy": 0.15,
        "lda": 0.85,
    }  # the released code's, no SVD term
    assert terms.values == pytest.approx(
        {"energy": energy_score(features), "lda": lda_score(features, labels)}
    )
    every = etran(features, labels, svd_weight=0.5, lda_covariance="shrunk")
    assert every.values["svd"] == pytest.approx(svd_score(features, labels))
    assert every.values["lda"] == pytest.approx(
        lda_score(features, labels, covariance="shrunk")
    )
    # Through the registry and its zoo step: the clearly separable expert comes first.
    good = np.eye(4, 10)[labels] * 6.0 + np.random.default_rng(1).standard_normal(
        (80, 10)
    )
    final = METHODS["etran"].across_zoo(
        {
            e: compute_score("etran", {"features": f, "labels": labels})
            for e, f in (("good", good), ("bad", features))
        }
    )
    assert final == {"good": 1.0, "bad": 0.0}


def test_etran_invariances_and_edge_cases():
    features, labels = _case(22, 45, 6, 3)
    terms = etran(features, labels, svd_weight=1.0).values
    order = np.random.default_rng(4).permutation(45)
    assert etran(
        features[order], labels[order], svd_weight=1.0
    ).values == pytest.approx(terms, abs=1e-12)
    assert etran(
        features, np.array([2, 0, 1])[labels], svd_weight=1.0
    ).values == pytest.approx(terms, abs=1e-12)
    assert etran(
        features, np.array([5, 9, 40])[labels], svd_weight=1.0
    ).values == pytest.approx(terms, abs=1e-12)
    assert lda_score(features + 3.0, labels) == pytest.approx(
        lda_score(features, labels), abs=1e-12
    )  # translation
    with pytest.raises(ValueError, match="at least 2 classes"):
        etran(features, np.zeros(45, dtype=int))
    with pytest.raises(ValueError, match="must be non-zero"):
        etran(features, labels, energy_weight=0.0, lda_weight=0.0)
    with pytest.raises(
        ValueError, match="lda_covariance must be one of identity, shrunk"
    ):
        etran(features, labels, lda_covariance="full")
    with pytest.raises(ValueError, match="svd_energy"):
        etran(features, labels, svd_energy=0.0)  # checked even with the term's weight 0
    with pytest.raises(ValueError, match="lda_weight must be finite"):
        etran(features, labels, lda_weight=math.nan)


# ---------------------------------------------------------------- NCTI


def _ncti_reference(features, labels, dims=64, variance_dims=32):
    """The released ``NCTI_Score``, transcribed from its definition with textbook LDA and loops.

    Exact PCA from the SVD of the centred features; lambda from the top components'
    variances; at the floor, LDA with the pooled covariance normalised by N - C (as
    scikit-learn computed it for the authors), whitened by its inverse square root,
    projected on the leading eigenvectors of the whitened between-class scatter; else
    LDA with every covariance shrunk towards its mean eigenvalue and scipy's
    generalised eigenvectors (all of them for the probabilities). Labels 0..C-1.
    """
    n = len(labels)
    classes = list(range(int(labels.max()) + 1))
    centred = features - features.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    k = min(dims, int(np.sum(s > 1e-10 * s[0])))
    z = u[:, :k] * s[:k]
    shrinkage = max(math.exp(-np.sum(s[:k][:variance_dims] ** 2) / (n - 1)), 1e-10)
    priors = np.array([np.mean(labels == c) for c in classes])
    means = np.array([z[labels == c].mean(axis=0) for c in classes])
    if shrinkage == 1e-10:
        # Pooled covariance of the deviations scaled by their standard deviations (N - C
        # normalisation); directions with eigenvalue <= 1e-8 (singular value 1e-4) dropped.
        deviations = z - means[labels]
        spread = deviations.std(axis=0)
        spread[spread == 0] = 1.0
        scaled = deviations / spread
        values, vectors = np.linalg.eigh(scaled.T @ scaled / (n - len(classes)))
        keep = values > 1e-8
        whiten = vectors[:, keep] / np.sqrt(values[keep]) / spread[:, None]
        centre = priors @ means
        white = (means - centre) @ whiten
        between = sum(p * np.outer(m, m) for p, m in zip(priors, white))
        values, vectors = np.linalg.eigh(between)
        basis = vectors[:, ::-1][
            :, : min(len(classes) - 1, int(np.sum(values > 1e-8 * values.max())))
        ]
        whitened = (z - centre) @ whiten
        projected = whitened @ basis
        logits = np.array(
            [
                [w @ m - 0.5 * m @ m + math.log(p) for m, p in zip(white, priors)]
                for w in whitened
            ]
        )
    else:

        def shrunk(points):
            c = points - points.mean(axis=0)
            scatter = c.T @ c / len(points)
            return (1 - shrinkage) * scatter + shrinkage * np.trace(
                scatter
            ) / k * np.eye(k)

        within = sum(p * shrunk(z[labels == c]) for c, p in zip(classes, priors))
        values, vectors = scipy.linalg.eigh(shrunk(z) - within, within)
        vectors = vectors[:, np.argsort(values)[::-1]]
        projected = z @ vectors[:, : len(classes) - 1]
        coef = means @ vectors @ vectors.T
        logits = z @ coef.T - 0.5 * np.diag(means @ coef.T) + np.log(priors)
    probs = _softmax_rows(logits)
    seli = np.linalg.norm(projected - projected.mean(axis=0), ord="nuc")
    ncc = np.mean([probs[i, labels[i]] for i in range(n)])
    vc = math.log(sum(np.linalg.norm(probs[labels == c], ord="nuc") for c in classes))
    return {"seli": seli, "ncc": ncc, "vc": vc}


# (seed, N, D, classes, scale): unit scale puts lambda at its floor (LDA without shrinkage),
# a small scale gives a real shrinkage; D > dims, D < dims, and few-shot N < dims.
NCTI_CASES = [
    (0, 300, 80, 6, 1.0),
    (1, 300, 80, 6, 0.1),
    (2, 90, 12, 3, 1.0),
    (3, 40, 100, 4, 0.05),
    (4, 40, 100, 4, 1.0),
]


@pytest.mark.parametrize(
    "case", NCTI_CASES, ids=lambda c: f"n{c[1]}-d{c[2]}-c{c[3]}-scale{c[4]}"
)
def test_ncti_terms_match_a_transcription_of_the_released_code(case):
    seed, n, d, n_classes, scale = case
    features, labels = _case(seed, n, d, n_classes, scale=scale)
    terms = ncti(features, labels)
    assert terms.weights == {"seli": 1.0, "ncc": 1.0, "vc": -1.0}
    assert terms.values == pytest.approx(
        _ncti_reference(features, labels), rel=1e-8, abs=1e-10
    )


def test_ncti_shrunk_lda_is_scikit_learns_eigen_solver():
    features, labels = _case(1, 300, 80, 6, scale=0.1)
    centred = features - features.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    z = u[:, :64] * s[:64]
    shrinkage = math.exp(-np.sum(s[:32] ** 2) / 299)
    assert shrinkage > 1e-10
    model = LinearDiscriminantAnalysis(solver="eigen", shrinkage=shrinkage).fit(
        z, labels
    )
    low = model.transform(z)
    probs = model.predict_proba(z)
    expected = {
        "seli": np.linalg.norm(low - low.mean(axis=0), ord="nuc"),
        "ncc": np.mean(probs[np.arange(300), labels]),
        "vc": math.log(
            sum(np.linalg.norm(probs[labels == c], ord="nuc") for c in range(6))
        ),
    }
    assert ncti(features, labels).values == pytest.approx(expected, rel=1e-8)


def test_ncti_combination_across_the_zoo_and_invariances():
    features, labels = _case(5, 120, 20, 4)
    terms = ncti(features, labels).values
    order = np.random.default_rng(6).permutation(120)
    rotation, _ = np.linalg.qr(np.random.default_rng(7).standard_normal((20, 20)))
    assert ncti(features[order], labels[order]).values == pytest.approx(terms, rel=1e-9)
    assert ncti(features, np.array([3, 1, 0, 2])[labels]).values == pytest.approx(
        terms, rel=1e-9
    )
    assert ncti(features @ rotation + 2.0, labels).values == pytest.approx(
        terms, rel=1e-9
    )
    # NCTI = ncc' + seli' - vc' over the zoo: with two experts each term scales to 0 or 1.
    good = 5.0 * np.eye(4, 20)[labels] + np.random.default_rng(8).standard_normal(
        (120, 20)
    )
    raw = {"good": ncti(good, labels), "bad": ncti(features, labels)}
    better = {
        t: raw["good"].values[t] > raw["bad"].values[t] for t in ("seli", "ncc", "vc")
    }
    assert better == {
        "seli": True,
        "ncc": True,
        "vc": False,
    }  # collapsed classes: smaller vc
    assert METHODS["ncti"].across_zoo(raw) == {"good": 2.0, "bad": -1.0}


def test_ncti_edge_cases():
    features, labels = _case(9, 30, 8, 3)
    assert all(
        math.isfinite(v) for v in ncti(features[:8], labels[:8]).values.values()
    )  # N < dims, tiny classes
    with pytest.raises(ValueError, match="at least 2 classes"):
        ncti(features, np.zeros(30, dtype=int))
    with pytest.raises(ValueError, match="constant"):
        ncti(np.ones((10, 4)), np.arange(10) % 2)
    with pytest.raises(ValueError, match="within-class variation"):
        ncti(features[:3], np.array([0, 1, 2]))  # every class a single image
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="dims must"):
            ncti(features, labels, dims=bad)


# ---------------------------------------------------------------- mean rank


def _zoo_caches(seed=30, experts=4, n=60, d=8, n_classes=3):
    """Experts whose features carry more or less class signal, with source-head probabilities."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    caches = []
    for e in range(experts):
        signal = 0.5 * e * np.eye(n_classes, d)[labels]
        probs = rng.random((n, 5)) + 2.0 * (e % 2) * np.eye(n_classes, 5)[labels]
        caches.append({
            "expert": f"resnet-s{e}-scratch", "labels": labels,
            "features": np.maximum(rng.standard_normal((n, d)) + signal, 0.0),
            "probs": probs / probs.sum(axis=1, keepdims=True),
        })  # fmt: skip
    return caches


def _mean_rank_reference(caches, methods):
    """Minus the average, over methods, of each expert's rank (1 = best, ties averaged), by loops."""
    ranks = {cache["expert"]: [] for cache in caches}
    for name in methods:
        raw = {cache["expert"]: compute_score(name, cache) for cache in caches}
        if METHODS[name].across_zoo is not None:
            raw = METHODS[name].across_zoo(raw)
        for expert, value in raw.items():
            above = sum(other > value for other in raw.values())
            equal = sum(other == value for other in raw.values())
            ranks[expert].append(above + (equal + 1) / 2)
    return {expert: -sum(r) / len(r) for expert, r in ranks.items()}


def test_mean_rank_by_hand():
    raw = {
        "a": MethodScores({"lfc_centered": 3.0, "logme": 0.5}),
        "b": MethodScores({"lfc_centered": 1.0, "logme": 0.5}),
        "c": MethodScores({"lfc_centered": 2.0, "logme": 0.1}),
    }
    # lfc_centered ranks a, c, b as 1, 2, 3; logme ties a and b at 1.5, c is 3.
    assert combine_ranks(raw) == {"a": -1.25, "b": -2.25, "c": -2.5}
    assert combine_ranks({"only": raw["a"]}) == {"only": -1.0}
    nan = combine_ranks({**raw, "broken": math.nan})
    assert math.isnan(nan.pop("broken")) and nan == combine_ranks(raw)
    last = combine_ranks(
        {**raw, "d": MethodScores({"lfc_centered": math.nan, "logme": 9.0})}
    )
    assert last["d"] == -(4 + 1) / 2  # NaN ranks last, 9.0 first
    with pytest.raises(ValueError, match="other methods"):
        combine_ranks({"a": raw["a"], "z": MethodScores({"logme": 1.0})})


def test_mean_rank_matches_ranking_each_method_by_hand():
    caches = _zoo_caches()
    methods = [
        "lfc",
        "leep",
        "feature_metrics",
        "knn",
    ]  # feature_metrics: ranked on its zoo-level score
    raw = {
        cache["expert"]: compute_score("mean_rank", cache, {"methods": methods})
        for cache in caches
    }
    assert combine_ranks(raw) == pytest.approx(_mean_rank_reference(caches, methods))
    default = {cache["expert"]: compute_score("mean_rank", cache) for cache in caches}
    assert list(next(iter(default.values())).scores) == list(
        METHODS["mean_rank"].options["methods"]
    )
    assert combine_ranks(default) == pytest.approx(
        _mean_rank_reference(caches, METHODS["mean_rank"].options["methods"])
    )


def test_mean_rank_through_score_zoo_ranks_each_zoo_on_its_own():
    caches = _zoo_caches(experts=5)
    names = [cache["expert"] for cache in caches]
    zoos = {"first": names[:3], "second": names[3:]}
    rows = score_zoo(
        caches,
        ["mean_rank", "lfc"],
        {"mean_rank": {"methods": ["lfc", "logme"]}},
        zoos=zoos,
    )
    scores = {row["expert"]: row["score"] for row in rows["mean_rank"]}
    expected = {
        **_mean_rank_reference(caches[:3], ["lfc", "logme"]),
        **_mean_rank_reference(caches[3:], ["lfc", "logme"]),
    }
    assert scores == pytest.approx(expected)
    assert all(row["seconds"] >= 0 for row in rows["mean_rank"])


def test_mean_rank_options():
    cache = _zoo_caches()[0]
    with_options = compute_score(
        "mean_rank",
        cache,
        {"methods": {"transrate": {"eps": 1e-3}, "knn": {"k": 3}, "nce": None}},
    )
    assert with_options.scores == pytest.approx({
        "transrate": compute_score("transrate", cache, {"eps": 1e-3}),
        "knn": compute_score("knn", cache, {"k": 3}),
        "nce": compute_score("nce", cache),
    })  # fmt: skip
    for methods, message in [
        (["rsa"], "method 'rsa' needs probe_features"),
        (["lgc"], "method 'lgc' needs gradients"),
        (["lfc", "mean_rank"], "cannot rank by itself"),
        (["lfc", "lfcc"], "unknown method 'lfcc'"),
        (["lfc", "lfc"], "listed twice"),
        ([], "non-empty list"),
        ("lfc", "non-empty list"),
        ({"lfc": 3}, "options of 'lfc' in mean_rank's methods must be a mapping"),
        ({"transrate": {"epsilon": 1.0}}, "unknown option"),
    ]:
        with pytest.raises(ValueError, match=message):
            compute_score("mean_rank", cache, {"methods": methods})

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
from sklearn.neighbors import KNeighborsClassifier

from zooselect.scores import METHODS, compute_score
from zooselect.scores.knn import knn

# The module itself (the package's name `knn` is the function).
knn_module = import_module("zooselect.scores.knn")


def _case(seed: int, n: int, d: int, n_classes: int, signal: float = 0.8, scale: float = 1.0):
    """Seeded features with some class signal; every class present, labels shuffled."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    features = scale * (rng.standard_normal((n, d)) + signal * rng.standard_normal((n_classes, d))[labels])
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
        predicted = next(c for c in voters if counts[c] == best)  # nearest of the tied classes
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
            model = KNeighborsClassifier(n_neighbors=5, metric=distance, algorithm="brute")
            hits += model.fit(features[keep], labels[keep]).predict(features[i : i + 1])[0] == labels[i]
        assert knn(features, labels, k=5, distance=distance) == pytest.approx(hits / 60)


def test_knn_blocks_of_rows_give_the_same_score(monkeypatch):
    features, labels = _case(5, 57, 9, 4)
    whole = knn(features, labels, k=6, distance="euclidean")
    monkeypatch.setattr(knn_module, "_BLOCK_ELEMENTS", 5 * 57)  # blocks of 5 rows, the last one short
    assert knn(features, labels, k=6, distance="euclidean") == whole


def test_knn_invariances():
    features, labels = _case(6, 45, 7, 3, signal=0.6)
    rotation, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((7, 7)))
    order = np.random.default_rng(2).permutation(45)
    for distance in ("euclidean", "cosine"):
        value = knn(features, labels, k=5, distance=distance)
        assert knn(features @ rotation, labels, k=5, distance=distance) == value
        assert knn(features[order], labels[order], k=5, distance=distance) == value
        assert knn(features, np.array([2, 0, 1])[labels], k=5, distance=distance) == value
        assert knn(3.0 * features, labels, k=5, distance=distance) == value
    assert knn(features + 5.0, labels, k=5, distance="euclidean") == knn(features, labels, k=5, distance="euclidean")
    scales = np.random.default_rng(3).uniform(0.1, 10.0, size=(45, 1))
    assert knn(scales * features, labels, k=5) == knn(features, labels, k=5)  # cosine: per-image scale


def test_knn_separable_features_outscore_noise_and_edge_cases():
    rng = np.random.default_rng(8)
    labels = np.repeat(np.arange(3), 20)
    separable = 4.0 * np.eye(3, 6)[labels] + rng.standard_normal((60, 6))
    assert knn(separable, labels) == 1.0
    assert knn(rng.standard_normal((60, 6)), labels) < 0.6
    relu = np.maximum(separable - 2.0, 0.0)
    relu[0] = 0.0  # an all-zero feature vector: no direction, similarity 0 to everything
    assert 0.0 <= knn(relu, labels) <= 1.0
    assert knn(np.ones((4, 3)), np.array([0, 0, 1, 1]), k=1) in (0.0, 0.5, 1.0)  # all equidistant
    with pytest.raises(ValueError, match="at least 2 classes"):
        knn(separable, np.zeros(60, dtype=int))
    for bad in (0, -1, 2.0, True, "5"):
        with pytest.raises(ValueError, match="k must"):
            knn(separable, labels, k=bad)
    with pytest.raises(ValueError, match="distance must be one of cosine, euclidean"):
        knn(separable, labels, distance="manhattan")
    assert compute_score("knn", {"features": separable, "labels": labels}, {"k": 3, "distance": "euclidean"}) == 1.0
    assert METHODS["knn"].options == {"k": 20, "distance": "cosine"}

"""The paper's methods beyond LFC and LEEP: LGC, RSA, Domain Similarity, and LGC's gradients."""

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from scipy.stats import spearmanr

from zooselect.gradients import per_sample_gradients, per_sample_gradients_loop, projected_gradients
from zooselect.models import create_model
from zooselect.scores import compute_score, domain_similarity, lfc_pairwise, lgc, rsa

RNG = np.random.default_rng(0)


def test_lgc_is_the_pearson_correlation_of_the_gradient_gram_matrix():
    gradients, labels = RNG.normal(size=(30, 12)), np.arange(30) % 3
    assert lgc(gradients, labels) == pytest.approx(lfc_pairwise(gradients, labels), abs=1e-10)
    assert lgc(5.0 * gradients, labels) == pytest.approx(lgc(gradients, labels), abs=1e-12)
    assert lgc(gradients, (labels + 1) % 3) == pytest.approx(lgc(gradients, labels), abs=1e-12)


def _rsa_by_hand(a, b):
    n = len(a)
    rdm_a = np.array([[1 - np.corrcoef(a[i], a[j])[0, 1] for j in range(n)] for i in range(n)])
    rdm_b = np.array([[1 - np.corrcoef(b[i], b[j])[0, 1] for j in range(n)] for i in range(n)])
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    return spearmanr([rdm_a[p] for p in pairs], [rdm_b[p] for p in pairs]).statistic


def test_rsa_matches_a_transcription_of_its_definition():
    a, b = RNG.normal(size=(9, 5)), RNG.normal(size=(9, 7))
    assert rsa(a, b) == pytest.approx(_rsa_by_hand(a, b), abs=1e-12)
    assert rsa(a, 3.0 * a + 1.0) == pytest.approx(1.0)


def test_rsa_prefers_features_that_look_like_the_probe():
    probe = RNG.normal(size=(40, 6))
    similar = probe @ RNG.normal(size=(6, 10)) + 0.1 * RNG.normal(size=(40, 10))
    noise = RNG.normal(size=(40, 10))
    assert rsa(similar, probe) > rsa(noise, probe)


def test_rsa_refuses_misaligned_images():
    with pytest.raises(ValueError, match="not the same images"):
        rsa(RNG.normal(size=(5, 3)), RNG.normal(size=(6, 3)))


def test_domain_similarity_on_a_case_worked_by_hand():
    # Source classes at 0 and 2 (equal weight), one target class at 1: every unit of
    # mass moves distance 1, so EMD = 1 and the score is exp(-gamma).
    features, labels = np.array([[0.5], [1.5]]), np.array([0, 0])
    score = domain_similarity(features, labels, np.array([[0.0], [2.0]]), np.array([10, 10]), gamma=0.5)
    assert score == pytest.approx(np.exp(-0.5))


def test_domain_similarity_matches_a_linear_program_and_drops_small_classes():
    features, labels = RNG.normal(size=(20, 3)), np.arange(20) % 4
    means, counts = RNG.normal(size=(5, 3)), np.array([30, 10, 3, 50, 20])
    keep = counts >= 5
    a = counts[keep] / counts[keep].sum()
    target = np.stack([features[labels == c].mean(0) for c in range(4)])
    b = np.full(4, 0.25)
    cost = np.linalg.norm(means[keep][:, None] - target[None], axis=-1)
    ns, nt = cost.shape
    rows = [np.kron(np.eye(ns)[i], np.ones(nt)) for i in range(ns)] + [np.kron(np.ones(ns), np.eye(nt)[j]) for j in range(nt)]
    emd = linprog(cost.ravel(), A_eq=np.array(rows), b_eq=np.concatenate([a, b]), bounds=(0, None)).fun
    got = domain_similarity(features, labels, means, counts, gamma=0.1, min_images=5)
    assert got == pytest.approx(np.exp(-0.1 * emd), abs=1e-9)


def test_domain_similarity_prefers_the_nearer_source():
    features, labels = RNG.normal(size=(20, 3)), np.arange(20) % 2
    near = np.stack([features[labels == c].mean(0) for c in range(2)])
    far = near + 10.0
    counts = np.array([100, 100])
    assert domain_similarity(features, labels, near, counts) > domain_similarity(features, labels, far, counts)


def test_registry_feeds_the_extra_inputs():
    cache = {
        "features": RNG.normal(size=(12, 4)),
        "labels": np.arange(12) % 3,
        "gradients": RNG.normal(size=(12, 8)),
        "probe_features": RNG.normal(size=(12, 5)),
        "source_means": RNG.normal(size=(3, 4)),
        "source_counts": np.array([20, 20, 20]),
    }
    assert compute_score("lgc", cache) == pytest.approx(lgc(cache["gradients"], cache["labels"]))
    assert compute_score("rsa", cache) == pytest.approx(rsa(cache["features"], cache["probe_features"]))
    with pytest.raises(ValueError, match="needs input"):
        compute_score("lgc", {"features": cache["features"], "labels": cache["labels"]})


@pytest.mark.parametrize("arch", ["resnet", "densenet"])
def test_vmap_gradients_equal_the_per_sample_loop(arch):
    torch.manual_seed(0)
    model = create_model(arch, 6, **({"width": 8} if arch == "resnet" else {"growth": 6, "layers": 2}))
    x, y = torch.randn(10, 3, 32, 32), torch.arange(10) % 3
    fast = per_sample_gradients(model, x, y, 3, batch_size=4)
    slow = per_sample_gradients_loop(model, x, y, 3)
    assert fast.shape == (10, model.last_conv.weight.numel())
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-6)


def test_projected_gradients_are_seeded_and_sized():
    torch.manual_seed(0)
    model = create_model("resnet", 4, width=4)
    x, y = torch.randn(6, 3, 32, 32), np.arange(6) % 2
    a = projected_gradients(model, x, y, 2, dim=16, seed=3)
    b = projected_gradients(model, x, y, 2, dim=16, seed=3)
    c = projected_gradients(model, x, y, 2, dim=16, seed=4)
    assert a.shape == (6, 16) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)

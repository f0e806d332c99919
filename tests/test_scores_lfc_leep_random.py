"""Tests of the score functions (LFC, LEEP, random) and the method registry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zooselect.scores import (
    CACHE_INPUTS,
    METHODS,
    Method,
    compute_score,
    get_method,
    leep,
    lfc,
    lfc_centered,
    lfc_pairwise,
    random_score,
    register,
)

# ---------------------------------------------------------------- LFC


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize(
    ("n", "d", "n_classes"),
    [
        (2, 1, 2),  # smallest valid input
        (7, 3, 2),
        (40, 5, 3),  # N > D
        (30, 100, 4),  # N < D: sum(Theta^2) via F F^T
        (64, 64, 8),  # N == D
        (200, 16, 10),
        (25, 300, 25),  # every class a handful of samples
    ],
)
def test_lfc_matches_pairwise_definition(n, d, n_classes, centered):
    rng = np.random.default_rng(1000 * n + d)
    labels = np.arange(n) % n_classes  # every class present
    rng.shuffle(labels)
    features = rng.standard_normal((n, d)) + rng.uniform(0, 2, size=d)
    features[labels == 0] += 0.5  # some signal so the correlation is not ~0
    fast = lfc(features, labels, centered=centered)
    slow = lfc_pairwise(features, labels, centered=centered)
    assert abs(fast - slow) <= 1e-10
    assert -1.0 <= fast <= 1.0


def test_lfc_matches_pairwise_on_float32_relu_features():
    rng = np.random.default_rng(7)
    features = np.maximum(rng.standard_normal((150, 48)), 0).astype(np.float32)
    labels = rng.integers(0, 5, size=150)
    assert abs(lfc(features, labels) - lfc_pairwise(features, labels)) <= 1e-10


def test_lfc_small_case_by_hand():
    # F = [[1], [1], [0]], y = [0, 0, 1]
    # Theta = F F^T = [[1, 1, 0],     Y = [[ 1,  1, -1],
    #                  [1, 1, 0],          [ 1,  1, -1],
    #                  [0, 0, 0]]          [-1, -1,  1]]
    # Over the M = 9 entries:
    #   sum Theta = 4, sum Theta^2 = 4, sum Y = 1, sum Y^2 = 9,
    #   sum Theta*Y = 4 (the four 1s of Theta sit on +1s of Y)
    #   cov   = 4 - 4*1/9  = 32/9
    #   var_T = 4 - 16/9   = 20/9
    #   var_Y = 9 - 1/9    = 80/9
    #   r = (32/9) / sqrt(20/9 * 80/9) = (32/9) / (40/9) = 0.8
    features = np.array([[1.0], [1.0], [0.0]])
    labels = np.array([0, 0, 1])
    theta = features @ features.T
    y = np.array([[1, 1, -1], [1, 1, -1], [-1, -1, 1]])
    assert np.corrcoef(theta.ravel(), y.ravel())[0, 1] == pytest.approx(0.8, abs=1e-15)
    assert lfc(features, labels) == pytest.approx(0.8, abs=1e-14)
    assert lfc_pairwise(features, labels) == pytest.approx(0.8, abs=1e-14)

    # Centred: mean 2/3, F_c = [1/3, 1/3, -2/3], Theta_c = (1/9) [[ 1,  1, -2],
    #                                                            [ 1,  1, -2],
    #                                                            [-2, -2,  4]]
    # (scale drops out). Entries sum to 0; sum Theta_c^2 = 4*1 + 4*4 + 16 = 36;
    # sum Theta_c*Y = 4*1 + 4*2 + 4 = 16; r = 16 / sqrt(36 * 80/9) = 2/sqrt(5).
    expected = 2 / math.sqrt(5)
    assert lfc(features, labels, centered=True) == pytest.approx(expected, abs=1e-14)
    assert lfc_centered(features, labels) == pytest.approx(expected, abs=1e-14)


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("scale", [1e-3, 0.5, 7.0, 1e4])
def test_lfc_invariant_to_positive_feature_scaling(scale, centered):
    rng = np.random.default_rng(3)
    features = rng.standard_normal((60, 12))
    labels = rng.integers(0, 4, size=60)
    assert lfc(scale * features, labels, centered=centered) == pytest.approx(
        lfc(features, labels, centered=centered), abs=1e-12
    )


@pytest.mark.parametrize("centered", [False, True])
def test_lfc_invariant_to_relabelling_classes(centered):
    rng = np.random.default_rng(4)
    features = rng.standard_normal((80, 10))
    labels = rng.integers(0, 6, size=80)
    permutation = np.array([3, 5, 0, 1, 4, 2])  # class c becomes permutation[c]
    assert lfc(features, permutation[labels], centered=centered) == pytest.approx(
        lfc(features, labels, centered=centered), abs=1e-12
    )


@pytest.mark.parametrize("centered", [False, True])
def test_lfc_invariant_to_sample_order(centered):
    rng = np.random.default_rng(5)
    features = rng.standard_normal((50, 8))
    labels = rng.integers(0, 3, size=50)
    order = rng.permutation(50)
    assert lfc(features[order], labels[order], centered=centered) == pytest.approx(
        lfc(features, labels, centered=centered), abs=1e-12
    )


@pytest.mark.parametrize("score", [lfc, lfc_centered])
def test_lfc_separable_features_outscore_noise(score):
    rng = np.random.default_rng(6)
    n_classes, per_class, d = 5, 20, 16
    labels = np.repeat(np.arange(n_classes), per_class)
    centres = 3.0 * rng.standard_normal((n_classes, d))
    separable = centres[labels] + 0.3 * rng.standard_normal((labels.size, d))
    noise = rng.standard_normal((labels.size, d))
    assert score(separable, labels) > score(noise, labels) + 0.2
    assert score(separable, labels) > 0.3


def test_lfc_rejects_single_class():
    features = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.raises(ValueError, match="at least 2 classes"):
        lfc(features, np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="at least 2 classes"):
        lfc_pairwise(features, np.full(10, 3))


@pytest.mark.parametrize("func", [lfc, lfc_pairwise])
@pytest.mark.parametrize(
    "features",
    [np.zeros((4, 3)), np.tile([0.3, -1.7, 2.2], (4, 1))],  # all zero; identical rows
)
def test_lfc_rejects_constant_gram_matrix(func, features):
    labels = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="constant"):
        func(features, labels)
    with pytest.raises(ValueError, match="constant"):  # centring makes them all zero
        func(features, labels, centered=True)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_lfc_rejects_non_finite_features(bad):
    features = np.ones((5, 2))
    features[2, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        lfc(features, np.array([0, 1, 0, 1, 0]))


@pytest.mark.parametrize(
    ("features", "labels", "message"),
    [
        (np.ones((5, 2)), np.array([0, 1, 0, 1]), "5 samples"),  # shape mismatch
        (np.ones((5, 2)), np.array([[0, 1, 0, 1, 0]]), "1-D"),
        (np.ones(5), np.array([0, 1, 0, 1, 0]), "2-D"),
        (np.ones((0, 3)), np.array([], dtype=int), "at least 2 samples"),  # empty
        (np.ones((1, 3)), np.array([0]), "at least 2 samples"),
        (np.ones((4, 0)), np.array([0, 1, 0, 1]), "at least 1 dimension"),
        (np.ones((4, 2)), np.array([0.0, 1.0, 0.0, 1.0]), "integer"),
        (np.ones((4, 2)), np.array([0, -1, 0, 1]), "negative"),
        (np.array([["a", "b"], ["c", "d"]]), np.array([0, 1]), "numeric"),
    ],
)
def test_lfc_rejects_bad_input(features, labels, message):
    with pytest.raises(ValueError, match=message):
        lfc(features, labels)


# ---------------------------------------------------------------- LEEP


def test_leep_small_case_by_hand():
    # y = [0, 0, 1], source softmax P (rows) over 2 source classes:
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    labels = np.array([0, 0, 1])
    # Joint P(y, z) = (1/3) * per-class column sums:
    #   y=0: (1/3)[1.5, 0.5],  y=1: (1/3)[0.2, 0.8];   P(z) = (1/3)[1.7, 1.3]
    # Conditionals P(y | z) = P(y, z) / P(z):
    #   P(0|z0) = 15/17, P(0|z1) = 5/13, P(1|z0) = 2/17, P(1|z1) = 8/13
    # Expected empirical predictions sum_z P(y_i|z) P_iz:
    eep = [
        15 / 17 * 0.9 + 5 / 13 * 0.1,
        15 / 17 * 0.6 + 5 / 13 * 0.4,
        2 / 17 * 0.2 + 8 / 13 * 0.8,
    ]
    expected = sum(math.log(v) for v in eep) / 3
    assert leep(probs, labels) == pytest.approx(expected, abs=1e-14)


def test_leep_perfect_transfer_is_zero_and_beats_uninformative():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    perfect = np.eye(3)[labels]  # the source head already predicts the target class
    uniform = np.full((labels.size, 4), 0.25)  # says nothing about the sample
    # Perfect: P(y|z) = 1 when y = z, so every EEP is 1 and LEEP = log 1 = 0.
    assert leep(perfect, labels) == pytest.approx(0.0, abs=1e-15)
    # Uniform: P(y|z) = n_y / N for every z, so LEEP = sum_c (n_c/N) log(n_c/N) = -H(y).
    fractions = np.array([3, 2, 5]) / 10
    assert leep(uniform, labels) == pytest.approx(np.sum(fractions * np.log(fractions)), abs=1e-14)
    assert leep(perfect, labels) > leep(uniform, labels)


def test_leep_invariant_to_relabelling_target_classes():
    rng = np.random.default_rng(8)
    logits = rng.standard_normal((90, 7))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 4, size=90)
    permutation = np.array([2, 0, 3, 1])
    assert leep(probs, permutation[labels]) == pytest.approx(leep(probs, labels), abs=1e-13)


def test_leep_informative_head_beats_noise_head():
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 3, size=120)
    informative = np.full((120, 6), 0.02)
    informative[np.arange(120), 2 * labels] = 0.9  # target class c -> source class 2c
    noise_logits = rng.standard_normal((120, 6))
    noise = np.exp(noise_logits) / np.exp(noise_logits).sum(axis=1, keepdims=True)
    assert leep(informative, labels) > leep(noise, labels)


def test_leep_source_class_without_mass_is_ignored():
    # A source class no sample puts mass on has P(z) = 0; the 0/0 conditional
    # is set to 0, so the score equals the score without that column.
    probs = np.array([[0.7, 0.0, 0.3], [0.2, 0.0, 0.8], [0.5, 0.0, 0.5]])
    labels = np.array([0, 1, 1])
    result = leep(probs, labels)
    assert np.isfinite(result)
    assert result == pytest.approx(leep(probs[:, [0, 2]], labels), abs=1e-15)


def test_leep_accepts_float32_softmax():
    rng = np.random.default_rng(10)
    logits = rng.standard_normal((50, 1000)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.isfinite(leep(probs, rng.integers(0, 5, size=50)))


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        (np.array([[0.5, 0.4], [0.5, 0.5]]), "sum to 1"),
        (np.array([[2.0, -1.0], [0.5, 0.5]]), "negative"),
        (np.array([[1.2, 3.4], [-0.5, 2.0]]), "negative"),  # logits, not probabilities
        (np.array([[np.nan, 0.5], [0.5, 0.5]]), "NaN"),
        (np.array([0.5, 0.5]), "2-D"),
        (np.array([[1.0, 0.0]]), "at least 2 samples"),
    ],
)
def test_leep_rejects_bad_probabilities(probs, message):
    labels = np.array([0, 1])[: len(probs)]
    with pytest.raises(ValueError, match=message):
        leep(probs, labels)


def test_leep_rejects_bad_labels():
    probs = np.full((3, 2), 0.5)
    with pytest.raises(ValueError, match="3 samples"):
        leep(probs, np.array([0, 1]))
    with pytest.raises(ValueError, match="integer"):
        leep(probs, np.array([0.0, 1.0, 1.0]))


# ---------------------------------------------------------------- random


def test_random_score_is_deterministic_and_in_unit_interval():
    value = random_score("resnet-mnist-scratch", seed=3)
    assert value == random_score("resnet-mnist-scratch", seed=3)
    assert 0.0 <= value < 1.0
    assert isinstance(value, float)


def test_random_score_is_stable_across_processes():
    # Fixed by crc32 and numpy's SeedSequence, never by Python's salted hash():
    # a value recomputed here equals the one from a fresh interpreter.
    import os
    import subprocess
    import sys

    code = "from zooselect.scores import random_score; print(repr(random_score('resnet-glyphs-generic', seed=11)))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(salt)},
        ).stdout.strip()
        for salt in (1, 2)
    }
    assert outputs == {repr(random_score("resnet-glyphs-generic", seed=11))}


def test_random_score_differs_across_experts_and_seeds():
    experts = [f"resnet-source{i}-scratch" for i in range(20)]
    values = [random_score(expert, seed=0) for expert in experts]
    assert len(set(values)) == len(values)
    seeds = [random_score("resnet-mnist-scratch", seed=s) for s in range(20)]
    assert len(set(seeds)) == len(seeds)


@pytest.mark.parametrize(("expert", "seed"), [("", 0), (3, 0), ("a", -1), ("a", 1.5)])
def test_random_score_rejects_bad_arguments(expert, seed):
    with pytest.raises(ValueError):
        random_score(expert, seed=seed)


# ---------------------------------------------------------------- registry


def _cache(expert: str = "resnet-mnist-scratch") -> dict:
    rng = np.random.default_rng(12)
    labels = rng.integers(0, 3, size=40)
    logits = rng.standard_normal((40, 5))
    return {
        "features": rng.standard_normal((40, 6)) + 1.0,
        "labels": labels,
        "probs": np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True),
        "expert": expert,
    }


def test_registry_has_the_paper_methods():
    assert {"lfc", "lfc_centered", "leep", "random"} <= set(METHODS)
    for name, method in METHODS.items():
        assert method.name == name
        assert method.summary and "\n" not in method.summary
        assert set(method.inputs) <= CACHE_INPUTS
    assert get_method("random").options == {"seed": 0}


def test_get_method_unknown_lists_valid_methods():
    with pytest.raises(ValueError, match="unknown method 'lfx'") as info:
        get_method("lfx")
    for name in ("lfc", "lfc_centered", "leep", "random"):
        assert name in str(info.value)


def test_compute_score_routes_inputs_to_the_function():
    cache = _cache()
    assert compute_score("lfc", cache) == lfc(cache["features"], cache["labels"])
    assert compute_score("lfc_centered", cache) == lfc(
        cache["features"], cache["labels"], centered=True
    )
    assert compute_score("lfc", cache) != compute_score("lfc_centered", cache)
    assert compute_score("leep", cache) == leep(cache["probs"], cache["labels"])
    assert compute_score("random", cache) == random_score(cache["expert"], seed=0)
    assert compute_score("random", cache, {"seed": 5}) == random_score(cache["expert"], seed=5)


def test_compute_score_rejects_unknown_option():
    with pytest.raises(ValueError, match=r"'centred'.*'lfc'.*valid options: none"):
        compute_score("lfc", _cache(), {"centred": True})
    with pytest.raises(ValueError, match=r"'sead'.*'random'.*valid options: seed"):
        compute_score("random", _cache(), {"sead": 1})


def test_compute_score_names_missing_input():
    cache = _cache()
    del cache["probs"]
    with pytest.raises(ValueError, match="'probs'"):
        compute_score("leep", cache)
    assert np.isfinite(compute_score("lfc", cache))  # lfc does not need probs


def test_register_adds_a_method_with_one_call():
    name = "mean_feature_norm_for_test"
    try:
        register(
            Method(
                name=name,
                func=lambda features, power: float(np.mean(np.linalg.norm(features, axis=1) ** power)),
                inputs=("features",),
                options={"power": 1},
                summary="mean feature norm (test only)",
            )
        )
        cache = _cache()
        assert compute_score(name, cache, {"power": 2}) == pytest.approx(
            np.mean(np.sum(cache["features"] ** 2, axis=1))
        )
        with pytest.raises(ValueError, match="already registered"):
            register(METHODS[name])
    finally:
        METHODS.pop(name, None)


def test_register_rejects_unknown_input():
    with pytest.raises(ValueError, match="unknown input"):
        register(Method(name="x_for_test", func=len, inputs=("images",), options={}, summary="x"))
    assert "x_for_test" not in METHODS

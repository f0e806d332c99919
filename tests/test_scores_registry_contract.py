"""What every registered method promises, checked on the same caches.

Each method either returns a finite float or stops with a ValueError that
says why; none returns NaN or crashes with another error. Cases: N < D, a
class with only 2 images, a single class, NaN and infinite features.
"""

import math

import numpy as np
import pytest

from zooselect.scores import METHODS, compute_score

# Methods that are undefined for one class and must say so.
LABEL_METHODS = sorted(name for name, method in METHODS.items() if "labels" in method.inputs)
# Feature Metrics and Random take no labels; RSA compares with the probe only.


def make_cache(n: int, d: int, labels: np.ndarray, seed: int = 0, features=None) -> dict:
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, d)) + 2.0 * np.eye(max(labels.max() + 1, 1), d)[labels] if features is None else features
    probs = rng.random((n, 7))
    return {
        "expert": "resnet-mnist-scratch",
        "features": np.maximum(f, 0.0),  # post-ReLU, like real penultimate features
        "labels": labels,
        "probs": probs / probs.sum(1, keepdims=True),
        "gradients": rng.normal(size=(n, 16)),
        "probe_features": rng.normal(size=(n, 5)),
        "source_means": rng.normal(size=(4, d)),
        "source_counts": np.array([50, 40, 30, 20]),
        # The per-expert scalars a cache carries as attributes (score_zoo lifts them to here).
        "source_accuracy": 0.75,
        "parameter_count": 1234,
    }


def score(method, cache):
    value = compute_score(method, cache)
    if METHODS[method].across_zoo is not None:
        other = dict(cache, features=cache["features"] * 0.5 + 0.1)
        value = METHODS[method].across_zoo({"a": value, "b": compute_score(method, other)})["a"]
    return value


@pytest.mark.parametrize("method", sorted(METHODS))
def test_n_smaller_than_d_gives_a_finite_score(method):
    labels = np.arange(12) % 3
    assert math.isfinite(score(method, make_cache(12, 40, labels)))


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_class_with_two_images_gives_a_finite_score(method):
    labels = np.array([0] * 10 + [1] * 10 + [2] * 2)
    assert math.isfinite(score(method, make_cache(22, 8, labels)))


@pytest.mark.parametrize("method", LABEL_METHODS)
def test_a_single_class_is_refused_or_documented(method):
    labels = np.zeros(10, dtype=int)
    try:
        value = score(method, make_cache(10, 4, labels))
    except ValueError as error:
        assert str(error)
    else:  # well defined (e.g. Domain Similarity compares class means): must be finite
        assert math.isfinite(value), f"{method} returned {value} for a single class"


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("method", sorted(name for name, m in METHODS.items() if "features" in m.inputs))
def test_nan_or_infinite_features_are_refused(method, bad):
    cache = make_cache(12, 6, np.arange(12) % 3)
    cache["features"] = cache["features"].copy()
    cache["features"][3, 2] = bad
    with pytest.raises(ValueError):
        compute_score(method, cache)


@pytest.mark.parametrize("method", LABEL_METHODS)
def test_relabelling_the_classes_leaves_every_label_based_score_unchanged(method):
    # Methods scored across the zoo are compared after their zoo step (with a second expert).
    labels = np.arange(30) % 3
    cache = make_cache(30, 6, labels, seed=1)
    relabelled = dict(cache, labels=np.array([2, 0, 1])[labels])
    assert score(method, relabelled) == pytest.approx(score(method, cache), rel=1e-9, abs=1e-12)


# Methods scored from features and labels alone; the others compare with a
# probe (RSA), with source data (Domain Similarity), or ignore labels.
FEATURE_LABEL_METHODS = sorted(
    name for name, m in METHODS.items() if set(m.inputs) == {"features", "labels"}
)


@pytest.mark.parametrize("method", FEATURE_LABEL_METHODS + ["lgc"])
def test_features_that_separate_the_classes_outscore_noise(method):
    rng = np.random.default_rng(3)
    labels = np.arange(60) % 3
    separable = rng.normal(size=(60, 8)) * 0.3 + 3.0 * np.eye(3, 8)[labels]
    noise = rng.normal(size=(60, 8))
    key = "gradients" if method == "lgc" else "features"
    good = compute_score(method, {key: separable, "labels": labels})
    bad = compute_score(method, {key: noise, "labels": labels})
    if METHODS[method].across_zoo is not None:  # the two experts as one zoo
        good, bad = METHODS[method].across_zoo({"good": good, "bad": bad}).values()
    assert good > bad

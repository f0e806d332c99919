"""HDF5 caches and the sample model selection sees."""

import numpy as np
import pytest

from zooselect.cache import read_attrs, read_cache, selection_sample, write_cache


def _arrays(n=6, d=4, cs=3, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.random((n, cs))
    return {
        "features": rng.normal(size=(n, d)),
        "probs": probs / probs.sum(1, keepdims=True),
        "labels": np.arange(n) % 2,
        "indices": np.arange(10, 10 + n),
    }


def test_round_trip_keeps_arrays_and_attributes(tmp_path):
    arrays = _arrays()
    path = tmp_path / "cache" / "resnet-mnist-scratch.h5"
    write_cache(path, **arrays, attrs={"expert": "resnet-mnist-scratch", "images_per_class": 50, "seed": 7})
    cache = read_cache(path)
    np.testing.assert_allclose(cache["features"], arrays["features"].astype(np.float32))
    np.testing.assert_array_equal(cache["labels"], arrays["labels"])
    np.testing.assert_array_equal(cache["indices"], arrays["indices"])
    assert cache["expert"] == "resnet-mnist-scratch"
    assert cache["attrs"]["images_per_class"] == 50 and cache["attrs"]["seed"] == 7
    assert read_attrs(path)["layer"].startswith("penultimate")
    assert not list(path.parent.glob("*.tmp"))


def test_rows_must_agree(tmp_path):
    arrays = _arrays()
    arrays["probs"] = arrays["probs"][:-1]
    with pytest.raises(ValueError, match="'probs' has 5 rows, labels have 6"):
        write_cache(tmp_path / "bad.h5", **arrays, attrs={})


def test_empty_cache_is_refused_by_name(tmp_path):
    arrays = {key: value[:0] for key, value in _arrays().items()}
    path = tmp_path / "empty.h5"
    write_cache(path, **arrays, attrs={})
    with pytest.raises(ValueError, match="empty.h5 is empty"):
        read_cache(path)


def test_full_regime_samples_at_most_k_per_class_from_the_training_set():
    labels = np.array([0] * 30 + [1] * 3 + [2] * 12)
    train_indices = np.arange(len(labels))
    sample = selection_sample(labels, train_indices, shots=0, images_per_class=10, seed=1)
    counts = np.bincount(labels[sample])
    assert counts.tolist() == [10, 3, 10]
    np.testing.assert_array_equal(sample, selection_sample(labels, train_indices, 0, 10, 1))


def test_few_shot_regime_samples_the_few_shot_set_itself():
    labels = np.arange(40) % 4
    few = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(selection_sample(labels, few, shots=2, images_per_class=50, seed=0), few)


def test_source_means_attached_to_a_cache_keep_its_attributes(tmp_path):
    """Domain Similarity's source means join the cache without replacing its attributes, which
    the target-agnostic baselines read (parameter_count, source_accuracy): a scoring job with
    Domain Similarity reads them into each cache, and the means file has attributes of its own."""
    from zooselect.cache import write_arrays
    from zooselect.selection import load_zoo_caches, score_zoo

    cache = tmp_path / "cache.h5"
    write_cache(cache, **_arrays(), attrs={"expert": "e", "parameter_count": 1234, "source_accuracy": 0.5})
    means = tmp_path / "means.h5"
    write_arrays(means, {"source_means": np.ones((2, 4)), "source_counts": np.array([6, 7])}, {"expert": "e", "seconds": 1.0})
    (loaded,) = load_zoo_caches([cache], source_mean_paths=[means])
    assert loaded["attrs"]["parameter_count"] == 1234 and loaded["source_counts"].tolist() == [6, 7]
    assert "source_means" in loaded
    scores = score_zoo([loaded], ["parameter_count", "source_accuracy", "domain_similarity"])
    assert scores["parameter_count"][0]["score"] == 1234 and scores["source_accuracy"][0]["score"] == 0.5

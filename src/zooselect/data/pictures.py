"""Random crops of pictures that scikit-image and scikit-learn ship, one class per picture.

Only pictures stored inside the installed packages are used (scikit-image's
``skimage.data`` images that need pooch and a network are not), so building
never downloads. Crops are drawn by a seeded generator: train and test crops
of the same picture come from different seed streams, so they may overlap in
pixels (the texture target's held-out region is the ``part`` option instead).
"""

from __future__ import annotations

import functools

import numpy as np

from .dataset import IMAGE_SIZE, Dataset, balanced_labels, check_split_sizes, gray_to_rgb, rng_for

PHOTOS = (
    "astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
    "hubble_deep_field", "retina", "motorcycle", "china", "flower",
)  # fmt: skip
# Region kept, as (top, bottom, left, right) fractions of the photo. The retina
# photograph is a disc on black: keep a square well inside the disc.
_WHOLE = (0.0, 1.0, 0.0, 1.0)
_PHOTO_REGION = {"retina": (0.2, 0.8, 0.2, 0.8)}

TEXTURES = ("camera", "brick", "grass", "gravel", "moon", "page", "text", "coins", "clock", "cell")
TEXTURE_SPLIT = 0.7  # "left" is [0, 70 %) of a picture's width, "right" is [70 %, 100 %)
PARTS = ("left", "right")


def _load_photo(name: str) -> np.ndarray:
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    import skimage.data

    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]  # left view of the stereo pair
    return getattr(skimage.data, name)()


@functools.lru_cache(maxsize=1)
def load_photos() -> tuple[np.ndarray, ...]:
    """The colour photographs of :data:`PHOTOS`, uint8 (H, W, 3), cropped to their regions."""
    out = []
    for name in PHOTOS:
        img = _load_photo(name)[..., :3]
        t, b, l, r = _PHOTO_REGION.get(name, _WHOLE)
        h, w = img.shape[:2]
        img = np.ascontiguousarray(img[round(t * h) : round(b * h), round(l * w) : round(r * w)])
        img.flags.writeable = False
        out.append(img)
    return tuple(out)


@functools.lru_cache(maxsize=1)
def load_textures() -> tuple[np.ndarray, ...]:
    """The grayscale pictures of :data:`TEXTURES`, uint8 (H, W)."""
    import skimage.data

    out = []
    for name in TEXTURES:
        img = np.ascontiguousarray(getattr(skimage.data, name)())
        img.flags.writeable = False
        out.append(img)
    return tuple(out)


def part_columns(width: int, part: str) -> tuple[int, int]:
    """Columns [start, stop) of a picture of ``width`` pixels that ``part`` may crop from."""
    split = round(TEXTURE_SPLIT * width)
    if part == "left":
        return 0, split
    if part == "right":
        return split, width
    raise ValueError(f"option 'part' must be one of {', '.join(PARTS)}, got {part!r}")


def draw_crop_boxes(
    rng: np.random.Generator,
    labels: np.ndarray,
    regions: list[tuple[int, int, int, int]],
    min_size: int,
    max_size: int,
) -> np.ndarray:
    """Square crop boxes (top, left, size), (n, 3), each fully inside its picture's region.

    ``regions[c]`` is (top, bottom, left, right) in pixels of the picture of
    class ``c``; sizes are uniform in ``min_size .. max_size``, clipped to
    the region.
    """
    regions_arr = np.asarray(regions)[labels]
    top, bottom, left, right = regions_arr.T
    size = np.minimum(
        rng.integers(min_size, max_size + 1, size=len(labels)),
        np.minimum(bottom - top, right - left),
    )
    u = rng.uniform(0, 1, size=(len(labels), 2))
    y0 = top + np.floor(u[:, 0] * (bottom - top - size + 1)).astype(np.int64)
    x0 = left + np.floor(u[:, 1] * (right - left - size + 1)).astype(np.int64)
    return np.stack([y0, x0, size], axis=1)


def crop_resize(
    pictures: tuple[np.ndarray, ...], labels: np.ndarray, boxes: np.ndarray
) -> np.ndarray:
    """Cut each box out of its picture and resize it to 32x32 (PIL bilinear, anti-aliased)."""
    from PIL import Image

    images = [Image.fromarray(p) for p in pictures]
    out = []
    for label, (y0, x0, s) in zip(labels, boxes.tolist()):
        crop = images[label].resize(
            (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR, box=(x0, y0, x0 + s, y0 + s)
        )
        out.append(np.asarray(crop))
    return np.stack(out)


def check_photo_patches_options(train: object, test: object) -> int:
    """The class count of ``photo_patches`` (one per photograph), after checking its options."""
    check_split_sizes(train, test, len(PHOTOS))
    return len(PHOTOS)


def photo_patches(seed: int, train: int = 2500, test: int = 500) -> Dataset:
    """Patches of colour photographs shipped offline, one class per photograph.

    Photos: scikit-image's astronaut, coffee, chelsea, rocket,
    immunohistochemistry, hubble_deep_field, retina (its central 60 % square,
    inside the fundus disc) and motorcycle (left view of ``stereo_motorcycle``),
    and scikit-learn's china and flower sample images. Each patch is a square
    crop of 32-96 px at a uniform position, resized to 32x32, flipped
    horizontally with probability 1/2. Train and test crops are drawn from
    different seed streams over the whole photo, so they can overlap.
    """
    check_photo_patches_options(train, test)
    pictures = load_photos()
    regions = [(0, p.shape[0], 0, p.shape[1]) for p in pictures]
    splits = []
    for split, n in (("train", train), ("test", test)):
        rng = rng_for("photo_patches", seed, split)
        y = balanced_labels(n, len(PHOTOS), rng)
        x = crop_resize(pictures, y, draw_crop_boxes(rng, y, regions, 32, 96))
        flip = rng.random(n) < 0.5
        x[flip] = x[flip, :, ::-1]
        splits += [x, y]
    return Dataset(*splits, classes=list(PHOTOS))


def texture_regions(part: str) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of each texture picture that ``part`` crops from."""
    return [(0, p.shape[0], *part_columns(p.shape[1], part)) for p in load_textures()]


def check_texture_crops_options(part: object, train: object, test: object) -> int:
    """The class count of ``texture_crops`` (one per picture), after checking its options."""
    if part not in PARTS:
        raise ValueError(f"option 'part' must be one of {', '.join(PARTS)}, got {part!r}")
    check_split_sizes(train, test, len(TEXTURES))
    return len(TEXTURES)


def texture_crops(seed: int, part: str = "left", train: int = 2500, test: int = 500) -> Dataset:
    """Crops of grayscale pictures scikit-image ships, one class per picture.

    Pictures: camera, brick, grass, gravel, moon, page, text, coins, clock
    (``skimage.data.clock``, a motion-blurred clock) and cell. ``part="left"``
    crops only from the left 70 % of each picture's width, ``part="right"``
    only from the right 30 %, so the two never share a pixel (the source uses
    "left", the held-out target "right"). Each crop is a square of 32-64 px
    (never wider than the part) fully inside the part, resized to 32x32;
    grey is replicated to RGB. Train and test crops come from different seed
    streams within the same part.
    """
    check_texture_crops_options(part, train, test)
    regions = texture_regions(part)
    pictures = load_textures()
    splits = []
    for split, n in (("train", train), ("test", test)):
        rng = rng_for(f"texture_crops_{part}", seed, split)
        y = balanced_labels(n, len(TEXTURES), rng)
        splits += [
            gray_to_rgb(crop_resize(pictures, y, draw_crop_boxes(rng, y, regions, 32, 64))),
            y,
        ]
    return Dataset(*splits, classes=list(TEXTURES))

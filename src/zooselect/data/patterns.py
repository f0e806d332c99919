"""Seeded pattern generators for the wide embedded benchmark: orientation, fine texture,
polygon families and colour statistics, each at a chosen image size.

They make targets that differ from the sources (and from each other) in what
decides the class: the angle of a grating, the spatial frequency of a noise
texture, the number of sides of an outlined polygon, the hue of a colour
field. ``size`` sets the images' side in pixels, so targets also differ from
the 32-px sources in resolution (each expert resizes to its own input).
Train and test come from different seed streams with balanced classes; every
image also draws nuisance factors (phase, contrast, position, colours,
noise) that carry no label. Nothing here reads files.
"""

from __future__ import annotations

import numpy as np

from .dataset import Dataset, balanced_labels, check_count, check_split_sizes, rng_for
from .procedural import _SUPERSAMPLE, _finish, contrasting_colours


def _check_size(size: object) -> int:
    size = check_count("size", size, 16)
    if size > 256:
        raise ValueError(f"option 'size' must be at most 256, got {size}")
    return size


def _checked(option: str, classes: object, what: str, size: object, train: object, test: object) -> int:
    """The class count ``classes`` (set by ``option``; at least 2), after checking it, ``size`` and the splits."""
    count = check_count(option, classes, 1)
    if count < 2:
        raise ValueError(f"option '{option}' gives {count} class ({what}); at least 2 needed")
    _check_size(size)
    check_split_sizes(train, test, count)
    return count


def _build(kind: str, seed: int, classes: list[str], train: int, test: int, draw) -> Dataset:
    """Draw balanced train and test splits with ``draw(labels, rng)`` from the kind's seed streams
    (the options already checked)."""
    splits = []
    for split, n in (("train", train), ("test", test)):
        rng = rng_for(kind, seed, split)
        y = balanced_labels(n, len(classes), rng)
        splits += [draw(y, rng), y]
    return Dataset(*splits, classes=classes)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y, x), each (size, size), centred on the image and in units of its side."""
    axis = (np.arange(size) + 0.5) / size - 0.5
    return np.meshgrid(axis, axis, indexing="ij")


# --- orientation ----------------------------------------------------------------------


def check_gratings_options(orientations: object, size: object, train: object, test: object) -> int:
    """The class count of ``gratings`` (``orientations``), after checking its options."""
    return _checked("orientations", orientations, "one per angle", size, train, test)


def gratings(seed: int, orientations: int = 6, size: int = 48, train: int = 500, test: int = 300) -> Dataset:
    """Orientation: class k is a grating at angle ``k * 180 / orientations`` degrees.

    Each image draws an angle jitter of up to a quarter of the class spacing,
    2-6 cycles across the image, a random phase, a sine or square profile,
    two colours at least 100 apart (RGB distance) and Gaussian noise of std
    4-24 grey levels.
    """
    check_gratings_options(orientations, size, train, test)
    step = 180.0 / orientations
    yy, xx = _grid(size)

    def draw(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(labels)
        angle = np.deg2rad(labels * step + rng.uniform(-step / 4, step / 4, size=n))
        cycles = rng.uniform(2, 6, size=n)
        phase = rng.uniform(0, 2 * np.pi, size=n)
        square = rng.random(n) < 0.5
        low, high = contrasting_colours(rng, n, 3, 100)
        noise_std = rng.uniform(4, 24, size=n)
        along = xx[None] * np.cos(angle)[:, None, None] + yy[None] * np.sin(angle)[:, None, None]
        wave = np.sin(2 * np.pi * cycles[:, None, None] * along + phase[:, None, None])
        wave = np.where(square[:, None, None], np.sign(wave), wave)
        mix = (wave + 1) / 2
        img = low[:, None, None] + (high - low)[:, None, None] * mix[..., None]
        return _finish(img + noise_std[:, None, None, None] * rng.standard_normal(img.shape))

    classes = [f"{round(k * step):03d}deg" for k in range(orientations)]
    return _build("gratings", seed, classes, train, test, draw)


# --- fine texture ---------------------------------------------------------------------


def check_noise_textures_options(bands: object, size: object, train: object, test: object) -> int:
    """The class count of ``noise_textures`` (``bands``), after checking its options."""
    return _checked("bands", bands, "one per frequency band", size, train, test)


def noise_textures(seed: int, bands: int = 5, size: int = 64, train: int = 500, test: int = 300) -> Dataset:
    """Fine texture: class k is noise band-passed around the k-th of ``bands`` spatial frequencies.

    The centre frequencies are spaced geometrically from 1/16 to 3/8 cycles
    per pixel (above 1/8 a 64-px image shrunk to 32 px keeps only the
    texture's grain, not its pattern); the pass band is a Gaussian in log
    frequency a third of the spacing wide. Each image is one grey texture
    with random mean and contrast, tinted by a random colour, plus Gaussian
    noise of std 2-8 grey levels.
    """
    check_noise_textures_options(bands, size, train, test)
    centres = np.geomspace(1 / 16, 3 / 8, bands)
    width = np.log(centres[1] / centres[0]) / 3
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.rfftfreq(size), indexing="ij")
    radius = np.hypot(fy, fx)
    log_radius = np.log(np.maximum(radius, 1e-6))
    filters = np.exp(-0.5 * ((log_radius[None] - np.log(centres)[:, None, None]) / width) ** 2)
    filters[:, radius == 0] = 0

    def draw(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(labels)
        white = rng.standard_normal((n, size, size))
        texture = np.fft.irfft2(np.fft.rfft2(white) * filters[labels], s=(size, size))
        texture /= texture.std(axis=(1, 2), keepdims=True)
        mean = rng.uniform(70, 185, size=n)
        contrast = rng.uniform(20, 45, size=n)
        tint = rng.uniform(0.6, 1.0, size=(n, 3))
        grey = mean[:, None, None] + contrast[:, None, None] * texture
        img = grey[..., None] * tint[:, None, None]
        noise_std = rng.uniform(2, 8, size=n)
        return _finish(img + noise_std[:, None, None, None] * rng.standard_normal(img.shape))

    classes = [f"{f:.3f}cpp" for f in centres]
    return _build("noise_textures", seed, classes, train, test, draw)


# --- polygon families -----------------------------------------------------------------


def check_polygons_options(min_sides: object, max_sides: object, size: object, train: object, test: object) -> int:
    """The class count of ``polygons`` (``max_sides - min_sides + 1``), after checking its options."""
    min_sides = check_count("min_sides", min_sides, 3)
    max_sides = check_count("max_sides", max_sides, min_sides)
    return _checked("max_sides", max_sides - min_sides + 1, "one per number of sides from min_sides", size, train, test)


def polygons(
    seed: int, min_sides: int = 3, max_sides: int = 8, size: int = 24, train: int = 500, test: int = 300
) -> Dataset:
    """Shape families: class k is the outline of a polygon with ``min_sides + k`` sides.

    Each polygon is regular up to a radial jitter of its vertices of up to
    8 %, of circumradius 30-45 % of the image side, anywhere it fits whole,
    at any rotation, drawn as an outline 4-9 % of the side wide in a colour
    at least 110 (RGB distance) from a uniform background, anti-aliased,
    plus Gaussian noise of std 2-12 grey levels. (The shape source fills its
    shapes; these are outlines.)
    """
    check_polygons_options(min_sides, max_sides, size, train, test)
    sides = list(range(min_sides, max_sides + 1))

    def draw(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from PIL import Image, ImageDraw

        n = len(labels)
        big = size * _SUPERSAMPLE
        radius = rng.uniform(0.30, 0.45, size=n) * big
        line = np.maximum(1, rng.uniform(0.04, 0.09, size=n) * big).round().astype(int)
        margin = radius + line
        centre = margin[:, None] + rng.uniform(0, 1, size=(n, 2)) * (big - 2 * margin[:, None])
        rotation = rng.uniform(0, 2 * np.pi, size=n)
        background, foreground = contrasting_colours(rng, n, 3, 110)
        noise_std = rng.uniform(2, 12, size=n)
        out = np.empty((n, size, size, 3), dtype=np.uint8)
        for i in range(n):
            k = sides[labels[i]]
            theta = rotation[i] + 2 * np.pi * np.arange(k) / k
            r = radius[i] * (1 + rng.uniform(-0.08, 0.08, size=k))
            points = np.stack([centre[i, 0] + r * np.cos(theta), centre[i, 1] + r * np.sin(theta)], 1)
            canvas = Image.new("L", (big, big), 0)
            ImageDraw.Draw(canvas).polygon([tuple(p) for p in points], outline=255, width=int(line[i]))
            mask = np.asarray(canvas, dtype=np.float64).reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE)
            mask = mask.mean(axis=(1, 3))[..., None] / 255.0
            img = background[i] + (foreground[i] - background[i]) * mask
            out[i] = _finish(img + noise_std[i] * rng.standard_normal(img.shape))
        return out

    return _build("polygons", seed, [f"{k}-gon" for k in sides], train, test, draw)


# --- colour statistics ----------------------------------------------------------------


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Hue in turns [0, 1), saturation and value in [0, 1] -> RGB on the 0..255 scale (…, 3)."""
    k = (np.array([5.0, 3.0, 1.0]) + 6.0 * h[..., None]) % 6.0
    return 255.0 * (v[..., None] - v[..., None] * s[..., None] * np.clip(np.minimum(k, 4.0 - k), 0, 1))


def check_colour_fields_options(hues: object, size: object, train: object, test: object) -> int:
    """The class count of ``colour_fields`` (``hues``), after checking its options."""
    return _checked("hues", hues, "one per hue", size, train, test)


def colour_fields(seed: int, hues: int = 6, size: int = 32, train: int = 500, test: int = 300) -> Dataset:
    """Colour statistics: class k is a smooth random field whose hues centre on the k-th of ``hues``.

    The field (low-passed noise, random smoothness) sets each pixel's value
    (brightness) and its hue offset of up to a quarter of the class spacing;
    saturation is drawn per image (0.45-1). A fifth of the pixels, in random
    blobs, take a distractor hue drawn uniformly. Only the distribution of
    colours carries the label: the pattern is the same kind of noise for
    every class.
    """
    check_colour_fields_options(hues, size, train, test)
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.rfftfreq(size), indexing="ij")
    radius = np.hypot(fy, fx)

    def smooth(rng: np.random.Generator, n: int) -> np.ndarray:
        """n fields (n, size, size) of low-passed noise in [0, 1], each its own smoothness."""
        cutoff = rng.uniform(0.03, 0.12, size=n)[:, None, None]
        spectrum = np.fft.rfft2(rng.standard_normal((n, size, size))) * np.exp(-((radius / cutoff) ** 2))
        field = np.fft.irfft2(spectrum, s=(size, size))
        low, high = field.min(axis=(1, 2), keepdims=True), field.max(axis=(1, 2), keepdims=True)
        return (field - low) / np.maximum(high - low, 1e-12)

    def draw(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(labels)
        brightness, offset, blobs = smooth(rng, n), smooth(rng, n), smooth(rng, n)
        hue = (labels[:, None, None] + (offset - 0.5) / 2) / hues
        distractor = rng.random(n)[:, None, None]
        hue = np.where(blobs > 0.8, distractor, hue) % 1.0
        saturation = np.broadcast_to(rng.uniform(0.45, 1.0, size=n)[:, None, None], hue.shape)
        value = 0.25 + 0.75 * brightness
        img = _hsv_to_rgb(hue, saturation, value)
        noise_std = rng.uniform(2, 8, size=n)
        return _finish(img + noise_std[:, None, None, None] * rng.standard_normal(img.shape))

    classes = [f"hue{round(360 * k / hues):03d}" for k in range(hues)]
    return _build("colour_fields", seed, classes, train, test, draw)

"""Seeded procedural image generators: geometric shapes, and counting dots.

Every image is drawn from a numpy Generator; train and test come from
different seed streams (so they are independent draws of the same
distribution) and have balanced classes. Nothing here reads files.
"""

from __future__ import annotations

import numpy as np

from .dataset import IMAGE_SIZE, Dataset, balanced_labels, check_count, check_split_sizes, rng_for

_SUPERSAMPLE = 4  # shapes are drawn at 4x and box-filtered down: anti-aliased edges


def _far_colours(
    rng: np.random.Generator, ref: np.ndarray, count: int, min_distance: float
) -> np.ndarray:
    """(n, count, C) uniform colours in [0, 255], each at least ``min_distance`` from ``ref[i]``.

    Rejection sampling, so the accepted colours stay uniform over the allowed region.
    """
    n, channels = ref.shape
    out = rng.uniform(0, 255, size=(n, count, channels))
    bad = np.linalg.norm(out - ref[:, None], axis=-1) < min_distance
    while bad.any():
        out[bad] = rng.uniform(0, 255, size=(int(bad.sum()), channels))
        bad = np.linalg.norm(out - ref[:, None], axis=-1) < min_distance
    return out


def contrasting_colours(
    rng: np.random.Generator, n: int, channels: int, min_distance: float
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (background, foreground) pairs, each (n, channels), at least ``min_distance`` apart."""
    background = rng.uniform(0, 255, size=(n, channels))
    return background, _far_colours(rng, background, 1, min_distance)[:, 0]


def _finish(img: np.ndarray) -> np.ndarray:
    return img.round().clip(0, 255).astype(np.uint8)


# --- shapes ---------------------------------------------------------------------------


def _circle(radius: float = 1.0, centre: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    return np.stack([centre[0] + radius * np.cos(t), centre[1] + radius * np.sin(t)], axis=1)


def _regular(k: int, inner: float | None = None) -> np.ndarray:
    """A regular k-gon of circumradius 1, or a k-pointed star if ``inner`` radius is given."""
    if inner is None:
        t = np.linspace(0, 2 * np.pi, k, endpoint=False) - np.pi / 2
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    t = np.linspace(0, 2 * np.pi, 2 * k, endpoint=False) - np.pi / 2
    r = np.where(np.arange(2 * k) % 2 == 0, 1.0, inner)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _cross(w: float = 0.3) -> np.ndarray:
    return np.array(
        [(w, 1), (w, w), (1, w), (1, -w), (w, -w), (w, -1),
         (-w, -1), (-w, -w), (-1, -w), (-1, w), (-w, w), (-w, 1)],
        dtype=float,
    )  # fmt: skip


# Each shape is a list of (polygon in a unit disc, fill): later polygons paint over
# earlier ones, so fill 0 cuts a hole.
SHAPES: dict[str, list[tuple[np.ndarray, int]]] = {
    "circle": [(_circle(), 255)],
    "ring": [(_circle(), 255), (_circle(0.55), 0)],
    "square": [(_regular(4), 255)],
    "triangle": [(_regular(3), 255)],
    "cross": [(_cross(), 255)],
    "star": [(_regular(5, inner=0.42), 255)],
    "bar": [(np.array([(-1, -0.25), (1, -0.25), (1, 0.25), (-1, 0.25)]), 255)],
    "crescent": [(_circle(), 255), (_circle(0.85, (0.45, 0.0)), 0)],
}


def _shape_mask(
    parts: list[tuple[np.ndarray, int]], cx: float, cy: float, r: float, angle: float
) -> np.ndarray:
    from PIL import Image, ImageDraw

    s = _SUPERSAMPLE
    canvas = Image.new("L", (IMAGE_SIZE * s, IMAGE_SIZE * s), 0)
    draw = ImageDraw.Draw(canvas)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    for polygon, fill in parts:
        xy = (polygon @ rot.T * r + (cx, cy)) * s
        draw.polygon([tuple(p) for p in xy.tolist()], fill=fill)
    small = canvas.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def _draw_shapes(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(labels)
    parts = list(SHAPES.values())
    radius = rng.uniform(6, 13, size=n)
    centre = radius[:, None] + rng.uniform(0, 1, size=(n, 2)) * (IMAGE_SIZE - 2 * radius[:, None])
    angle = rng.uniform(0, 2 * np.pi, size=n)
    background, foreground = contrasting_colours(rng, n, 3, 120)
    noise_std = rng.uniform(2, 12, size=n)
    noise = rng.standard_normal((n, IMAGE_SIZE, IMAGE_SIZE, 3))
    out = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for i in range(n):
        mask = _shape_mask(parts[labels[i]], *centre[i], radius[i], angle[i])[..., None]
        img = background[i] + (foreground[i] - background[i]) * mask + noise_std[i] * noise[i]
        out[i] = _finish(img)
    return out


def check_shapes_options(train: object, test: object) -> int:
    """The class count of ``shapes`` (its options do not change it), after checking its options."""
    check_split_sizes(train, test, len(SHAPES))
    return len(SHAPES)


def shapes(seed: int, train: int = 2500, test: int = 500) -> Dataset:
    """Eight procedural shape classes (see ``SHAPES``) drawn with PIL.

    Each image: one shape of circumradius 6-13 px, anywhere it fits whole,
    any rotation, in a uniform random colour on a uniform random background
    colour at least 120 apart (RGB distance), plus Gaussian noise of std
    2-12 grey levels. Train and test come from different seed streams.
    """
    check_shapes_options(train, test)
    splits = []
    for split, n in (("train", train), ("test", test)):
        rng = rng_for("shapes", seed, split)
        y = balanced_labels(n, len(SHAPES), rng)
        splits += [_draw_shapes(y, rng), y]
    return Dataset(*splits, classes=list(SHAPES))


# --- dots -----------------------------------------------------------------------------

_DOT_RADIUS = (2.0, 3.5)  # px
_DOT_GAP = 2.0  # px of background at least between two dots
_MAX_DOTS = 9  # more do not fit reliably at these radii


def _place_dots(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres (count, 2) and radii (count,) of non-overlapping dots inside the image."""
    while True:  # restart an image whose dots jammed; rare below _MAX_DOTS
        radii = rng.uniform(*_DOT_RADIUS, size=count)
        centres = np.zeros((count, 2))
        for j, r in enumerate(radii):
            candidates = r + 1 + rng.uniform(0, 1, size=(64, 2)) * (IMAGE_SIZE - 2 * (r + 1))
            dist = np.linalg.norm(candidates[:, None] - centres[None, :j], axis=-1)
            ok = np.all(dist >= radii[:j] + r + _DOT_GAP, axis=1)
            if not ok.any():
                break
            centres[j] = candidates[np.argmax(ok)]
        else:
            return centres, radii


def _draw_dots(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(labels)
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] + 0.5
    background = rng.uniform(0, 255, size=(n, 3))
    dot_colours = _far_colours(rng, background, _MAX_DOTS, 120)
    gradient = rng.uniform(0, 40, size=n)  # a soft linear shading across the background
    direction = rng.uniform(0, 2 * np.pi, size=n)
    noise_std = rng.uniform(4, 14, size=n)
    out = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for i in range(n):
        ramp = ((xx - 16) * np.cos(direction[i]) + (yy - 16) * np.sin(direction[i])) / 16
        img = background[i] + (gradient[i] * ramp)[..., None]
        centres, radii = _place_dots(rng, int(labels[i]) + 1)
        for (cx, cy), r, colour in zip(centres, radii, dot_colours[i]):
            alpha = np.clip(r + 0.5 - np.hypot(xx - cx, yy - cy), 0, 1)[..., None]
            img = img * (1 - alpha) + colour * alpha
        img += noise_std[i] * rng.standard_normal((IMAGE_SIZE, IMAGE_SIZE, 3))
        out[i] = _finish(img)
    return out


def check_dots_options(max_dots: object, train: object, test: object) -> int:
    """The class count of ``dots`` (``max_dots``), after checking its options."""
    max_dots = check_count("max_dots", max_dots, 1)
    if max_dots < 2:
        raise ValueError(f"option 'max_dots' gives {max_dots} class (one per dot count); at least 2 needed")
    if max_dots > _MAX_DOTS:
        raise ValueError(f"option 'max_dots' must be at most {_MAX_DOTS}, got {max_dots}")
    check_split_sizes(train, test, max_dots)
    return max_dots


def dots(seed: int, max_dots: int = 5, train: int = 500, test: int = 300) -> Dataset:
    """Counting: class "k" shows k non-overlapping dots, k = 1 .. ``max_dots`` (at most 9).

    Dots have radius 2-3.5 px, at least 2 px apart, each its own colour at
    least 120 (RGB distance) from a random background colour; the background
    has a soft linear shading and Gaussian noise of std 4-14 grey levels.
    Train and test come from different seed streams.
    """
    max_dots = check_dots_options(max_dots, train, test)
    splits = []
    for split, n in (("train", train), ("test", test)):
        rng = rng_for("dots", seed, split)
        y = balanced_labels(n, max_dots, rng)
        splits += [_draw_dots(y, rng), y]
    return Dataset(*splits, classes=[str(k) for k in range(1, max_dots + 1)])

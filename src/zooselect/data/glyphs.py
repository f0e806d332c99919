"""Characters rendered from the TrueType fonts that matplotlib ships, one class per character.

Fonts are chosen by glob patterns over the file names in
``matplotlib.get_data_path()/fonts/ttf``. Not every matched font draws every
character: some map ordinary code points to unrelated glyphs (the BaKoMa
``cmex10``/``cmsy10`` put delimiters and symbols where digits are), some have
no such glyph at all (``DejaVu*Display``, ``STIXNonUni*``, ``STIXSiz*``), and
``LastResortHE`` draws one placeholder for everything. :func:`usable_fonts`
keeps a font only if, for every requested character, the glyph the font maps
it to is named like that character (``zero``, ``A``, ``uni2126``, or a
variant: ``A.sc``, cmmi10's old-style ``zerooldstyle``), leaves ink, and
differs from the other characters' renderings.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .dataset import IMAGE_SIZE, Dataset, balanced_labels, check_split_sizes, gray_to_rgb, rng_for
from .procedural import contrasting_colours

log = logging.getLogger(__name__)

_CANVAS = 48  # rendering canvas; the centre 32x32 is kept after rotation
_SIZE_RANGE = (18, 28)  # font size in px
_MAX_SHIFT = 3  # px, glyph centre offset in x and y
_MAX_ROTATION = 15.0  # degrees
_MIN_CONTRAST = 80  # grey levels between foreground and background
_MAX_NOISE = 8.0  # std of Gaussian pixel noise, grey levels
_DIGIT_NAMES = "zero one two three four five six seven eight nine".split()


def font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _expected_glyph_names(char: str) -> tuple[str, ...]:
    names = [f"uni{ord(char):04X}", f"u{ord(char):04X}"]
    if char.isascii() and char.isalpha():
        names.append(char)
    elif char.isascii() and char.isdigit():
        names.append(_DIGIT_NAMES[int(char)])
    return tuple(names)


@functools.lru_cache(maxsize=256)
def _font(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def _render_mask(char: str, path: str, size: int, dx: float, dy: float, angle: float) -> np.ndarray:
    """Glyph coverage in [0, 1], (32, 32), centred plus (dx, dy), rotated by ``angle`` degrees."""
    from PIL import Image, ImageDraw

    font = _font(path, size)
    left, top, right, bottom = font.getbbox(char)
    canvas = Image.new("L", (_CANVAS, _CANVAS), 0)
    origin = (_CANVAS / 2 - (left + right) / 2 + dx, _CANVAS / 2 - (top + bottom) / 2 + dy)
    ImageDraw.Draw(canvas).text(origin, char, font=font, fill=255)
    if angle:
        canvas = canvas.rotate(angle, resample=Image.Resampling.BILINEAR)
    m = (_CANVAS - IMAGE_SIZE) // 2
    canvas = canvas.crop((m, m, m + IMAGE_SIZE, m + IMAGE_SIZE))
    return np.asarray(canvas, dtype=np.float32) / 255.0


def _font_problem(path: Path, chars: str) -> str | None:
    """Why ``path`` cannot draw all of ``chars``, or None if it can."""
    from matplotlib.ft2font import FT2Font

    ft = FT2Font(str(path))
    renderings = []
    for char in chars:
        index = ft.get_char_index(ord(char))
        name = ft.get_glyph_name(index) if index else ".notdef"
        if not any(
            name in (e, e + "oldstyle") or name.startswith(e + ".")
            for e in _expected_glyph_names(char)
        ):
            return f"maps {char!r} to glyph {name!r}"
        mask = _render_mask(char, str(path), 24, 0, 0, 0)
        if (mask > 0.5).sum() < 10:
            return f"draws {char!r} blank"
        renderings.append(mask)
    for i in range(len(chars)):
        for j in range(i):
            if np.abs(renderings[i] - renderings[j]).max() < 0.1:
                return f"draws {chars[j]!r} and {chars[i]!r} alike"
    return None


def usable_fonts(chars: str, patterns: Sequence[str]) -> list[Path]:
    """The matplotlib fonts matching any of ``patterns`` that draw every character in ``chars``.

    A pattern is matched against the file name and its stem (``"cm*"``,
    ``"DejaVuSans.ttf"``, ``"cmr10"``). Raises ValueError if no font matches,
    listing the available fonts, or if none of the matches can draw ``chars``,
    saying why each was excluded.
    """
    available = sorted(font_dir().glob("*.ttf"))
    matched = [
        p
        for p in available
        if any(fnmatch.fnmatch(n, pat) for pat in patterns for n in (p.name, p.stem))
    ]
    if not matched:
        raise ValueError(
            f"font patterns {list(patterns)} match no font; available fonts: "
            f"{', '.join(p.stem for p in available)}"
        )
    usable, excluded = [], []
    for p in matched:
        problem = _font_problem(p, chars)
        if problem is None:
            usable.append(p)
        else:
            excluded.append(f"{p.stem} ({problem})")
    if excluded:
        log.info("fonts excluded for %r: %s", chars, "; ".join(excluded))
    if not usable:
        raise ValueError(
            f"no font matching {list(patterns)} draws all of {chars!r}: {'; '.join(excluded)}"
        )
    return usable


def _draw_glyphs(
    labels: np.ndarray, chars: str, fonts: list[Path], rng: np.random.Generator
) -> np.ndarray:
    n = len(labels)
    font_idx = rng.integers(len(fonts), size=n)
    sizes = rng.integers(_SIZE_RANGE[0], _SIZE_RANGE[1] + 1, size=n)
    shifts = rng.uniform(-_MAX_SHIFT, _MAX_SHIFT, size=(n, 2))
    angles = rng.uniform(-_MAX_ROTATION, _MAX_ROTATION, size=n)
    background, foreground = contrasting_colours(rng, n, 1, _MIN_CONTRAST)
    background, foreground = background[:, 0], foreground[:, 0]
    noise_std = rng.uniform(0, _MAX_NOISE, size=n)
    noise = rng.standard_normal((n, IMAGE_SIZE, IMAGE_SIZE))

    out = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for i in range(n):
        mask = _render_mask(
            chars[labels[i]], str(fonts[font_idx[i]]), int(sizes[i]), *shifts[i], angles[i]
        )
        img = background[i] + (foreground[i] - background[i]) * mask + noise_std[i] * noise[i]
        out[i] = img.round().clip(0, 255)
    return gray_to_rgb(out)


def check_font_glyphs_options(chars: object, fonts: object, train: object, test: object) -> int:
    """The class count of ``font_glyphs`` (one per character of ``chars``), after checking its
    options (which fonts draw the characters is found when the dataset is built)."""
    if not isinstance(chars, str):
        raise ValueError(f"option 'chars' must be a string (one class per character), got {chars!r}")
    if len(chars) < 2:
        raise ValueError(f"option 'chars' {chars!r} gives {len(chars)} class (one per character); at least 2 needed")
    if len(set(chars)) != len(chars) or any(c.isspace() for c in chars):
        raise ValueError(f"option 'chars' must not repeat characters or contain spaces: {chars!r}")
    if isinstance(fonts, str) or not fonts or not all(isinstance(p, str) for p in fonts):
        raise ValueError(f"option 'fonts' must be a non-empty list of glob patterns, got {fonts!r}")
    check_split_sizes(train, test, len(chars))
    return len(chars)


def font_glyphs(
    seed: int,
    chars: str = "ABCDEFGHJK",
    fonts: Sequence[str] = ("DejaVu*",),
    train: int = 2500,
    test: int = 500,
) -> Dataset:
    """Characters rendered with PIL from the TrueType fonts matplotlib ships.

    One class per character of ``chars``; ``fonts`` are glob patterns over the
    font file names (see :func:`usable_fonts` for which matches are dropped).
    Each image draws a usable font, a size of 18-28 px, a centre offset of up
    to 3 px, a rotation of up to 15 degrees, background and foreground grey
    levels at least 80 apart (either may be the lighter), and Gaussian noise
    of std up to 8 grey levels; grey is replicated to RGB. Train and test are
    drawn independently from different seed streams with balanced classes.
    """
    check_font_glyphs_options(chars, fonts, train, test)
    usable = usable_fonts(chars, fonts)
    log.info(
        "font_glyphs %r from %d fonts: %s", chars, len(usable), ", ".join(p.stem for p in usable)
    )
    splits = []
    for split, n in (("train", train), ("test", test)):
        rng = rng_for("font_glyphs", seed, split)
        y = balanced_labels(n, len(chars), rng)
        splits += [_draw_glyphs(y, chars, usable, rng), y]
    return Dataset(*splits, classes=list(chars))

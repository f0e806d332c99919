"""Random baseline: a seeded, reproducible random score per expert.

Scores of different experts under one seed are independent uniform draws, so
ranking the zoo by them gives a uniformly random ranking. The draw depends
only on (seed, expert name), never on process, order of evaluation or
Python's salted ``hash()``; it reads no data.
"""

from __future__ import annotations

import zlib

import numpy as np


def random_score(expert: str, seed: int = 0) -> float:
    """Uniform draw in [0, 1) for `expert`, deterministic in (seed, expert).

    The generator is ``np.random.default_rng([seed, crc32(expert)])`` where
    crc32 is ``zlib.crc32`` of the UTF-8 name: stable across processes,
    platforms and Python versions.

    Parameters
    ----------
    expert : str
        The zoo entry's name, e.g. ``"resnet-mnist-scratch"``.
    seed : int
        Non-negative integer; different seeds give independent rankings.
    """
    if not isinstance(expert, str) or not expert:
        raise ValueError(f"expert must be a non-empty string; got {expert!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    name_hash = zlib.crc32(expert.encode("utf-8"))
    rng = np.random.default_rng([int(seed), name_hash])
    return float(rng.random())

"""Deterministic seeds derived from the config seed and a job's wildcards.

Python's built-in ``hash`` of a string changes between processes, so every
seed here comes from CRC32 of the names: the same config and wildcards give
the same seed in every job, on every machine.
"""

from __future__ import annotations

import zlib


def derive_seed(base_seed: int, *names: object) -> int:
    """A 31-bit seed from ``base_seed`` and any number of names (wildcards)."""
    text = "/".join(str(name) for name in names)
    return (int(base_seed) * 1_000_003 + zlib.crc32(text.encode("utf-8"))) % (2**31 - 1)

"""The regime names: how much target training data a (target, regime) task has.

A regime is ``full`` (the whole training set) or ``{N}shot`` (N images per
class, N >= 1), the config schema's grammar. This module is the one place
that reads a regime's name; it draws no images (zooselect.data.sampling does).
"""

from __future__ import annotations

import re

FULL = "full"
_FEW_SHOT = re.compile(r"([1-9][0-9]*)shot")


def regime_shots(regime: str) -> int:
    """Images per class of `regime`: N for ``{N}shot``, 0 for ``full`` (every image)."""
    if regime == FULL:
        return 0
    match = _FEW_SHOT.fullmatch(str(regime))
    if match is None:
        raise ValueError(f"regime '{regime}' is neither '{FULL}' nor '{{N}}shot' (e.g. 5shot)")
    return int(match.group(1))

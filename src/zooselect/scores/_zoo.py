"""Scores whose final value compares the zoo's experts: per-expert terms, min-max scaled across the zoo.

ETran and NCTI compute a few terms per expert and, as their authors' code
does, rescale each term to [0, 1] over the experts being compared before
adding them with signed weights. The per-expert step returns `ZooTerms`
(the registry's raw value); `min_max_combination` is the methods'
``across_zoo`` step. Nothing here reads files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ZooTerms:
    """One expert's raw terms for a zoo-level score: term name -> value, and each term's weight."""

    values: Mapping[str, float]
    weights: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if set(self.values) != set(self.weights) or not self.values:
            raise ValueError("ZooTerms needs one weight for each of at least one term")


def check_weights(weights: Mapping[str, object]) -> dict[str, float]:
    """The weights as floats; finite numbers, at least one of them non-zero, else ValueError naming it."""
    checked = {}
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(
            weight, (int, float, np.integer, np.floating)
        ):
            raise ValueError(f"{name} must be a number; got {weight!r}")
        if not math.isfinite(weight):
            raise ValueError(f"{name} must be finite; got {weight!r}")
        checked[name] = float(weight)
    if not any(checked.values()):
        raise ValueError(f"at least one of {', '.join(checked)} must be non-zero")
    return checked


def min_max_combination(raw: Mapping[str, ZooTerms | float]) -> dict[str, float]:
    r"""score(e) = sum_t w_t (v_t(e) - min_e' v_t(e')) / (max_e' v_t(e') - min_e' v_t(e')).

    Over the experts e of one zoo, each with `ZooTerms` of the same terms and
    weights. A term that is constant over the zoo (a zoo of one, or equal
    values up to rounding) scales to 0 rather than 0/0. An expert whose raw
    value is not ZooTerms (NaN: a method that could not score it, as
    ``score_zoo(failures="nan")`` records) gets NaN and is left out of the
    minimum and maximum. Scores from different zoos are not comparable.
    """
    terms = {
        expert: value for expert, value in raw.items() if isinstance(value, ZooTerms)
    }
    scores = {expert: math.nan for expert in raw}
    if not terms:
        return scores
    first = next(iter(terms.values()))
    for expert, value in terms.items():
        if dict(value.weights) != dict(first.weights):
            raise ValueError(
                f"expert {expert!r} was scored with other terms or weights than the rest of the zoo"
            )
    names = list(first.weights)
    table = np.array(
        [[value.values[name] for name in names] for value in terms.values()],
        dtype=float,
    )
    if not np.isfinite(table).all():
        bad = list(terms)[int(np.flatnonzero(~np.isfinite(table).all(axis=1))[0])]
        raise ValueError(f"the terms of expert {bad!r} are not finite")
    low, spread = table.min(axis=0), np.ptp(table, axis=0)
    constant = spread <= 1e-12 * np.maximum(np.abs(table).max(axis=0), 1e-300)
    scaled = np.divide(table - low, spread, out=np.zeros_like(table), where=~constant)
    combined = scaled @ np.array([first.weights[name] for name in names])
    scores.update({expert: float(value) for expert, value in zip(terms, combined)})
    return scores

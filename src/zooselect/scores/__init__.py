"""Model-selection scores and their registry: the one place that knows method names.

A score function takes arrays (and plain values) and returns a float; larger
means "fine-tune this expert". The registry records, for each method name,
which cached inputs the function takes (a subset of ``features``, ``labels``,
``probs``, ``expert``) and which options a config may set, so the workflow
scores any method with ``compute_score(name, cache, options)`` and a new
method joins with a single ``register(Method(...))`` call. Nothing here reads
files: the caller loads the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zooselect.scores.leep import leep
from zooselect.scores.lfc import lfc, lfc_centered, lfc_pairwise
from zooselect.scores.random_baseline import random_score

CACHE_INPUTS: frozenset[str] = frozenset({"features", "labels", "probs", "expert"})


@dataclass(frozen=True)
class Method:
    """A registered model-selection method.

    name: the registry key, also the ``{method}`` wildcard and CSV value.
    func: called as ``func(**inputs, **options)`` and returns a float.
    inputs: names of the cache entries ``func`` takes (subset of CACHE_INPUTS).
    options: option name -> default value; the only options a config may set.
    summary: one line saying what the score measures.
    """

    name: str
    func: Callable[..., float]
    inputs: tuple[str, ...]
    options: dict = field(default_factory=dict)
    summary: str = ""


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add `method` to METHODS; its name must be new and its inputs known."""
    if method.name in METHODS:
        raise ValueError(f"method '{method.name}' is already registered")
    unknown = set(method.inputs) - CACHE_INPUTS
    if unknown:
        raise ValueError(
            f"method '{method.name}' asks for unknown input(s) {sorted(unknown)}; "
            f"valid inputs: {sorted(CACHE_INPUTS)}"
        )
    clash = set(method.inputs) & set(method.options)
    if clash:
        raise ValueError(
            f"method '{method.name}' uses {sorted(clash)} both as input and option"
        )
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    """Return the registered method called `name`; unknown names raise ValueError."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}"
        ) from None


def compute_score(
    name: str, cache: Mapping[str, Any], options: Mapping[str, Any] | None = None
) -> float:
    """Score one expert's cache with method `name`.

    Takes ``method.inputs`` from `cache` (a mapping with keys such as
    features, labels, probs, expert; extra keys are ignored), merges
    `options` over the method's defaults and calls the method's function.

    Raises ValueError for an unknown method, an unknown option (naming the
    option, the method and its valid options) or an input missing from the
    cache (naming it).
    """
    method = get_method(name)
    options = dict(options or {})
    unknown = sorted(set(options) - set(method.options))
    if unknown:
        valid = ", ".join(sorted(method.options)) or "none"
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for method "
            f"'{method.name}'; valid options: {valid}"
        )
    missing = [key for key in method.inputs if key not in cache]
    if missing:
        raise ValueError(
            f"method '{method.name}' needs input(s) {', '.join(map(repr, missing))} "
            f"missing from the cache (it has: {', '.join(sorted(map(str, cache)))})"
        )
    kwargs = {key: cache[key] for key in method.inputs}
    kwargs.update(method.options)
    kwargs.update(options)
    return float(method.func(**kwargs))


register(
    Method(
        name="lfc",
        func=lfc,
        inputs=("features", "labels"),
        options={},
        summary="Pearson correlation of the feature Gram matrix F F^T with the "
        "label similarity matrix (Deshpande et al. 2021)",
    )
)
register(
    Method(
        name="lfc_centered",
        func=lfc_centered,
        inputs=("features", "labels"),
        options={},
        summary="LFC on mean-centred features",
    )
)
register(
    Method(
        name="leep",
        func=leep,
        inputs=("probs", "labels"),
        options={},
        summary="mean log-likelihood of the target labels under the empirical "
        "source-to-target predictor (Nguyen et al. 2020)",
    )
)
register(
    Method(
        name="random",
        func=random_score,
        inputs=("expert",),
        options={"seed": 0},
        summary="seeded uniform random score: a random ranking of the zoo",
    )
)

__all__ = [
    "CACHE_INPUTS",
    "METHODS",
    "Method",
    "compute_score",
    "get_method",
    "leep",
    "lfc",
    "lfc_centered",
    "lfc_pairwise",
    "random_score",
    "register",
]

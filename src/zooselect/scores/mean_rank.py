"""Mean rank: each expert's average rank over several methods, judged as a method of its own.

A consensus of scores that live on different scales: within a zoo, rank the
experts under each configured method (1 = best) and average the ranks. The
score is minus that mean, so that larger means "fine-tune this expert" as for
every method. The per-expert step (`mean_rank`) scores the cache with each
listed method; ranking needs the whole zoo, so the registry's ``across_zoo``
step (`combine_ranks`) turns those scores into the final one, within each
zoo, as ``zooselect.selection.score_zoo`` does for every such method.
Nothing here reads files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# One closed-form method per family, each a few milliseconds per expert on the
# embedded benchmark: kernel alignment, Bayesian evidence, shrunk Fisher ratio,
# coding rate, and the source head's predictions.
DEFAULT_METHODS = ("lfc_centered", "logme", "hscore_reg", "transrate", "leep")
# What every cache holds; the listed methods may use nothing else.
INPUTS = ("features", "labels", "probs", "expert")


@dataclass(frozen=True)
class MethodScores:
    """One expert's raw score under each listed method (what `combine_ranks` ranks)."""

    scores: Mapping[str, Any]


def configured_methods(
    methods: Sequence[str] | Mapping[str, Mapping[str, Any] | None],
) -> dict[str, dict]:
    """The listed methods with their options: a list of names (defaults), or name -> options.

    Each must be registered, computable from a cache alone (features,
    labels, probs, the expert's name), listed once and not ``mean_rank``;
    otherwise ValueError naming it.
    """
    from zooselect.scores import get_method  # the registry imports this module

    if (
        isinstance(methods, str)
        or not isinstance(methods, (Sequence, Mapping))
        or not methods
    ):
        raise ValueError(
            f"methods must be a non-empty list of method names (or name -> options); got {methods!r}"
        )
    if isinstance(methods, Mapping):
        entries = list(methods.items())
    else:
        entries = [(name, None) for name in methods]
        repeated = sorted(
            {name for name in methods if list(methods).count(name) > 1}, key=str
        )
        if repeated:
            raise ValueError(
                f"method(s) {', '.join(map(repr, repeated))} listed twice in mean_rank's methods"
            )
    configured = {}
    for name, options in entries:
        method = get_method(name)  # unknown: ValueError listing the valid names
        if method.name == "mean_rank":
            raise ValueError("mean_rank cannot rank by itself")
        extra = [key for key in method.inputs if key not in INPUTS]
        if extra:
            raise ValueError(
                f"method '{name}' needs {', '.join(extra)}; mean_rank's methods may use only "
                f"{', '.join(INPUTS)}"
            )
        if options is not None and not isinstance(options, Mapping):
            raise ValueError(
                f"the options of '{name}' in mean_rank's methods must be a mapping; got {options!r}"
            )
        configured[name] = dict(options or {})
    return configured


def check_mean_rank_options(options: Mapping[str, Any]) -> None:
    """A config's mean_rank options, checked before anything is scored: its methods and their option names."""
    from zooselect.scores import (
        check_option_names,
        get_method,
    )  # the registry imports this module

    from zooselect.options import check_value_types

    for name, method_options in configured_methods(
        options.get("methods", DEFAULT_METHODS)
    ).items():
        method = get_method(name)
        check_option_names(method, method_options)
        try:
            check_value_types(method_options, method.options)
            if method.check_options is not None:
                method.check_options(method_options)
        except ValueError as error:
            raise ValueError(f"method '{name}': {error}") from None


def mean_rank(
    features: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    expert: str,
    methods: Sequence[str] | Mapping[str, Mapping[str, Any] | None] = DEFAULT_METHODS,
) -> MethodScores:
    r"""Mean rank's per-expert step: this cache's raw score under each of `methods`.

    The final score of expert e in a zoo Z, given by `combine_ranks`, is

        mean_rank(e) = -(1/M) sum_m rank_m(e),

    rank_m(e) in 1..|Z| the rank of e's score under method m among the zoo's
    experts (1 = the largest score; tied experts share the average of their
    ranks), over the M listed methods. A method with its own step across the
    zoo (Feature Metrics, ETran, NCTI) is ranked on its final scores. The
    score lies in [-|Z|, -1]; it depends on the zoo like any rank.

    Parameters
    ----------
    features, labels, probs, expert : one expert's cache.
    methods : method names (each with its registry defaults), or a mapping
        name -> options; default: one cheap closed-form method per family,
        DEFAULT_METHODS. Methods that need more than a cache (RSA's probe,
        Domain Similarity's source data, LGC's gradients) are refused.

    Returns
    -------
    MethodScores, for `combine_ranks`.
    """
    from zooselect.scores import compute_score  # the registry imports this module

    cache = {"features": features, "labels": labels, "probs": probs, "expert": expert}
    return MethodScores(
        {
            name: compute_score(name, cache, options)
            for name, options in configured_methods(methods).items()
        }
    )


def combine_ranks(raw: Mapping[str, MethodScores | float]) -> dict[str, float]:
    """Mean rank across one zoo: minus each expert's average rank over the methods of `mean_rank`.

    An expert whose raw value is not MethodScores (NaN: it could not be
    scored) gets NaN and takes no rank. A NaN among a method's final scores
    ranks last.
    """
    from scipy.stats import rankdata  # lazy: keeps importing the registry light

    from zooselect.scores import get_method  # the registry imports this module

    scored = {
        expert: value
        for expert, value in raw.items()
        if isinstance(value, MethodScores)
    }
    final = {expert: math.nan for expert in raw}
    if not scored:
        return final
    names = list(next(iter(scored.values())).scores)
    for expert, value in scored.items():
        if list(value.scores) != names:
            raise ValueError(
                f"expert {expert!r} was scored with other methods than the rest of the zoo"
            )
    experts = list(scored)
    ranks = np.zeros((len(experts), len(names)))
    for column, name in enumerate(names):
        values = {expert: scored[expert].scores[name] for expert in experts}
        zoo_step = get_method(name).across_zoo
        if zoo_step is not None:
            values = zoo_step(values)
        scores = np.array([float(values[expert]) for expert in experts])
        ranks[:, column] = rankdata(
            -np.where(np.isnan(scores), -np.inf, scores), method="average"
        )
    final.update(
        {expert: -float(value) for expert, value in zip(experts, ranks.mean(axis=1))}
    )
    return final

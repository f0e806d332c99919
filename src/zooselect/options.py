"""Keyword options from a config, checked against what they configure before anything is built.

Names are checked against the keywords a constructor takes (or a method's
table of defaults), values against the type of their default: an integer
option takes an integer, a number option a number, a string option a
string, a flag true or false. This catches, at start-up, what YAML makes
easy to get wrong (``width: "8"``, ``eps: 1e-4``, which YAML reads as a
string). Options whose default is None or a container are left to the code
that uses them. Environment variables that take a number are read by
:func:`env_int`. Importing this module imports nothing heavy.
"""

from __future__ import annotations

import difflib
import inspect
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """A hint naming the ``candidates`` closest to ``name``: ' (did you mean a or b?)', or '' if none is close."""
    close = difflib.get_close_matches(str(name), list(candidates), n=n, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def keyword_defaults(func: Callable[..., Any], skip: Iterable[str] = ()) -> dict[str, Any]:
    """The keywords ``func`` takes, each with its default (``inspect.Parameter.empty`` if none),
    less those in ``skip`` (the arguments the caller supplies itself, e.g. ``num_classes``)."""
    skip = set(skip)
    return {
        name: parameter.default
        for name, parameter in inspect.signature(func).parameters.items()
        if name not in skip and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    }


def _expected(default: Any) -> tuple[str, Callable[[Any], bool]] | None:
    """What a value must be, judged by its default: (words for a message, test), or None if unchecked."""
    if isinstance(default, bool):
        return "true or false", lambda v: isinstance(v, bool)
    if isinstance(default, numbers.Integral):
        return "an integer", lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool)
    if isinstance(default, numbers.Real):
        return "a number", lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool)
    if isinstance(default, str):
        return "a string", lambda v: isinstance(v, str)
    return None


def check_value_types(options: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first of ``options`` whose value is not of its default's type."""
    for name, value in options.items():
        expected = _expected(defaults.get(name))
        if expected is not None and not expected[1](value):
            raise ValueError(
                f"option '{name}' must be {expected[0]} (its default is {defaults[name]!r}), got {value!r}"
            )


def check_keyword_options(options: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """Raise ValueError for an unknown option (with the close names and the valid ones), then for a
    value of the wrong type (:func:`check_value_types`)."""
    for name in options:
        if name not in defaults:
            raise ValueError(
                f"unknown option '{name}'{close_matches(name, defaults)}; "
                f"valid options: {', '.join(sorted(defaults)) or '(none)'}"
            )
    check_value_types(options, defaults)


def env_int(name: str, text: str, minimum: int, expected: str = "a whole number") -> int:
    """``text``, the value of environment variable ``name``, as an integer of at least
    ``minimum``; a ValueError naming ``name`` and the value otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be {expected}, got {text!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value

"""The one place that knows architecture names: ``create_model(arch, num_classes, **options)``."""

from __future__ import annotations

import difflib
from typing import Any, Callable

from torch import nn

from .densenet import DenseNet
from .resnet import ResNet
from .torchvision_models import TORCHVISION_ARCHITECTURES, natural_key

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "resnet": ResNet,
    "densenet": DenseNet,
    **TORCHVISION_ARCHITECTURES,  # resnet18 … resnet152, densenet121 … densenet201 (option: weights)
}


def valid_architectures() -> str:
    """The names for an error message: ours, then torchvision's (resnet18 before resnet101)."""
    ours = sorted((name for name in ARCHITECTURES if name not in TORCHVISION_ARCHITECTURES), key=natural_key)
    theirs = sorted((name for name in ARCHITECTURES if name in TORCHVISION_ARCHITECTURES), key=natural_key)
    listing = ", ".join(ours)
    if theirs:
        listing += f"; torchvision's: {', '.join(theirs)}"
    return listing


def close_matches(name: str, candidates, n: int = 3) -> str:
    """A hint naming the ``candidates`` closest to ``name``: ' (did you mean a or b?)', or '' if none is close."""
    close = difflib.get_close_matches(str(name), list(candidates), n=n, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def create_model(arch: str, num_classes: int, **options: Any) -> nn.Module:
    """Build architecture ``arch`` with a ``num_classes``-way head.

    Every model has ``features(x) -> (N, feature_dim)`` (the penultimate
    layer) and a linear ``head``.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture '{arch}'{close_matches(arch, ARCHITECTURES)}; "
            f"valid architectures: {valid_architectures()}"
        )
    try:
        return ARCHITECTURES[arch](num_classes=num_classes, **options)
    except TypeError as error:
        raise ValueError(f"bad options {options} for architecture '{arch}': {error}") from error

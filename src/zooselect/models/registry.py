"""The one place that knows architecture names: ``create_model(arch, num_classes, **options)``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from torch import nn

from ..options import check_keyword_options, close_matches, keyword_defaults
from .densenet import DenseNet
from .resnet import ResNet
from .torchvision_models import TORCHVISION_ARCHITECTURES, natural_key, resolve_weights

__all__ = ["ARCHITECTURES", "check_arch_options", "close_matches", "create_model", "valid_architectures"]

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


def _unknown(arch: str) -> ValueError:
    return ValueError(
        f"unknown architecture '{arch}'{close_matches(arch, ARCHITECTURES)}; "
        f"valid architectures: {valid_architectures()}"
    )


def check_arch_options(arch: str, options: Mapping[str, Any]) -> None:
    """Check ``arch`` and the options ``create_model`` would pass it, without building it: names
    against the constructor's keywords, values against its defaults' types, torchvision weights
    against torchvision's names (nothing is downloaded). ValueError naming the option."""
    if arch not in ARCHITECTURES:
        raise _unknown(arch)
    check_keyword_options(options, keyword_defaults(ARCHITECTURES[arch], skip=("num_classes",)))
    if arch in TORCHVISION_ARCHITECTURES:
        resolve_weights(arch, options.get("weights"))


def create_model(arch: str, num_classes: int, **options: Any) -> nn.Module:
    """Build architecture ``arch`` with a ``num_classes``-way head.

    Every model has ``features(x) -> (N, feature_dim)`` (the penultimate
    layer) and a linear ``head``.
    """
    if arch not in ARCHITECTURES:
        raise _unknown(arch)
    try:
        return ARCHITECTURES[arch](num_classes=num_classes, **options)
    except TypeError as error:
        raise ValueError(f"bad options {options} for architecture '{arch}': {error}") from error

"""The one place that knows architecture names: ``create_model(arch, num_classes, **options)``."""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from .densenet import DenseNet
from .resnet import ResNet

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "resnet": ResNet,
    "densenet": DenseNet,
}


def create_model(arch: str, num_classes: int, **options: Any) -> nn.Module:
    """Build architecture ``arch`` with a ``num_classes``-way head.

    Every model has ``features(x) -> (N, feature_dim)`` (the penultimate
    layer) and a linear ``head``.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture '{arch}'; valid architectures: {', '.join(sorted(ARCHITECTURES))}"
        )
    try:
        return ARCHITECTURES[arch](num_classes=num_classes, **options)
    except TypeError as error:
        raise ValueError(f"bad options {options} for architecture '{arch}': {error}") from error

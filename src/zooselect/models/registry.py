"""The one place that knows every model: its name, its library, how it is built, and its input.

As timm's registry maps a model name to its constructor and its
``pretrained_cfg``, this module maps every name a zoo can use to the
:class:`Library` that builds it, and each library says how to check a name
(without building or downloading), build the model, prepare its input and
find its classifier in a state dict. There are three:

- ``zooselect``: the benchmark's own ``resnet`` and ``densenet``, and
  torchvision's ResNets and DenseNets wrapped so that LGC finds their last
  convolution (``ARCHITECTURES``, built by :func:`create_model`). These are
  what the workflow trains and what its checkpoints name.
- ``torchvision``: every torchvision classifier (its ResNets and DenseNets
  are the wrappers above), with the weights' own transforms as input.
- ``timm``: every timm model, with its ``pretrained_cfg`` as input.

:func:`find_library` says which library builds a name (zooselect's first,
then torchvision's, then timm's, unless one is named). torchvision and timm
are imported only when one of their models is named.

Checkpoint files are read by :mod:`.checkpoint` (``read_tensor_file``, the
one reader) and turned into experts by :mod:`.local`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from torch import nn

from ..options import check_keyword_options, close_matches, keyword_defaults
from .densenet import DenseNet
from .inputs import BENCHMARK_INPUT, InputSpec
from .resnet import ResNet
from .torchvision_models import TORCHVISION_ARCHITECTURES, natural_key, resolve_weights

__all__ = [
    "ARCHITECTURES",
    "LIBRARIES",
    "Library",
    "check_arch_options",
    "create_model",
    "find_library",
    "library_named",
    "valid_architectures",
]

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "resnet": ResNet,
    "densenet": DenseNet,
    **TORCHVISION_ARCHITECTURES,  # resnet18 … resnet152, densenet121 … densenet201 (option: weights)
}
"""The zooselect library's architectures: what ``create_model`` builds and checkpoints name."""


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


CLASSIFIER_KEYS = ("head.weight", "fc.weight", "classifier.weight", "heads.head.weight", "head.fc.weight")
"""Where a plain state dict usually keeps its classifier weight (ours, torchvision's, ViT's, ...)."""


class Library:
    """How one library's models are named, checked, built and prepared for.

    ``weights`` means what the library's own API means by it: a torchvision
    weights name (or None for random initialisation) for zooselect's and
    torchvision's models, ``pretrained`` (True or False; a name's tag picks
    which weights) for timm's.
    """

    name = ""

    def names(self) -> list[str]:
        """Every name this library builds."""
        raise NotImplementedError

    def has(self, arch: str) -> bool:
        return arch in self.names()

    def check(self, arch: str, weights: Any = None) -> None:
        """ValueError naming the closest valid names when ``arch`` (or its ``weights``) is unknown;
        nothing is built or downloaded."""
        raise NotImplementedError

    def build(
        self, arch: str, num_classes: int | None = None, weights: Any = None, options: Mapping[str, Any] | None = None
    ) -> nn.Module:
        """``arch`` with ``weights``; ``num_classes`` None keeps the weights' own classes."""
        raise NotImplementedError

    def input(
        self, arch: str, model: nn.Module, weights: Any = None, options: Mapping[str, Any] | None = None
    ) -> InputSpec:
        """How ``model`` (``arch`` with ``weights``) expects its images prepared."""
        raise NotImplementedError

    def classifier_keys(self, arch: str) -> list[str]:
        """State-dict keys that may hold ``arch``'s classifier weight, most likely first."""
        return list(CLASSIFIER_KEYS)

    def gives_gradients(self, arch: str) -> bool:
        """Whether ``arch`` exposes the last convolution LGC differentiates (without building it)."""
        return False


class ZooselectLibrary(Library):
    """The benchmark's architectures (:data:`ARCHITECTURES`); options go to the constructor."""

    name = "zooselect"

    def names(self) -> list[str]:
        return list(ARCHITECTURES)

    def check(self, arch: str, weights: Any = None) -> None:
        check_arch_options(arch, {} if weights is None else {"weights": weights})

    def build(self, arch, num_classes=None, weights=None, options=None) -> nn.Module:
        options = dict(options or {})
        if weights is not None:
            options["weights"] = weights
        if num_classes is None:
            raise ValueError(f"zooselect architecture '{arch}' needs its number of classes")
        return create_model(arch, num_classes, **options)

    def input(self, arch, model, weights=None, options=None) -> InputSpec:
        """Our small architectures: 32x32, each image standardised; torchvision's ResNets and
        DenseNets: their weights' transforms (ImageNet's preparation without weights)."""
        if arch in TORCHVISION_ARCHITECTURES:
            return TORCHVISION.input(arch, model, weights if weights is not None else (options or {}).get("weights"))
        return BENCHMARK_INPUT

    def gives_gradients(self, arch: str) -> bool:
        return arch in ARCHITECTURES


class TorchvisionLibrary(Library):
    """Every torchvision classifier, split at its classifier (:mod:`.torchvision_classifiers`)."""

    name = "torchvision"

    def names(self) -> list[str]:
        from .torchvision_classifiers import torchvision_classifier_names

        return torchvision_classifier_names()

    def check(self, arch: str, weights: Any = None) -> None:
        from .torchvision_classifiers import check_torchvision_name

        check_torchvision_name(arch)
        resolve_weights(arch, weights)

    def build(self, arch, num_classes=None, weights=None, options=None) -> nn.Module:
        from .torchvision_classifiers import torchvision_model

        if options:
            raise ValueError(f"torchvision model '{arch}' takes no options, got {dict(options)}")
        return torchvision_model(arch, weights=weights, num_classes=num_classes)

    def input(self, arch, model, weights=None, options=None) -> InputSpec:
        from .torchvision_classifiers import torchvision_input

        return torchvision_input(arch, weights)

    def gives_gradients(self, arch: str) -> bool:
        return arch in TORCHVISION_ARCHITECTURES


class TimmLibrary(Library):
    """Every timm model (:mod:`.timm_models`); options go to ``timm.create_model``."""

    name = "timm"

    def names(self) -> list[str]:
        from .timm_models import timm_model_names

        return timm_model_names()

    def has(self, arch: str) -> bool:
        import timm
        from timm.models import split_model_name_tag

        return timm.is_model(split_model_name_tag(arch)[0])

    def check(self, arch: str, weights: Any = None) -> None:
        from .timm_models import check_timm_name

        check_timm_name(arch)

    def build(self, arch, num_classes=None, weights=None, options=None) -> nn.Module:
        from .timm_models import TimmModel

        return TimmModel(arch, pretrained=bool(weights), num_classes=num_classes, **dict(options or {}))

    def input(self, arch, model, weights=None, options=None) -> InputSpec:
        from .timm_models import timm_input

        return timm_input(model)

    def classifier_keys(self, arch: str) -> list[str]:
        from .timm_models import timm_classifier_key

        return [timm_classifier_key(arch), *CLASSIFIER_KEYS]


ZOOSELECT, TORCHVISION, TIMM = ZooselectLibrary(), TorchvisionLibrary(), TimmLibrary()
LIBRARIES: dict[str, Library] = {library.name: library for library in (ZOOSELECT, TORCHVISION, TIMM)}
"""Every library, in the order :func:`find_library` asks them."""


def library_named(name: str) -> Library:
    """The library called ``name``; ValueError listing the valid ones."""
    if name not in LIBRARIES:
        raise ValueError(f"unknown library '{name}'{close_matches(name, LIBRARIES)}; valid libraries: {', '.join(LIBRARIES)}")
    return LIBRARIES[name]


def find_library(arch: str, library: str | None = None) -> Library:
    """The library that builds ``arch``: the one named, or the first of zooselect, torchvision
    and timm that knows it; ValueError naming the closest names of all three."""
    if library is not None:
        return library_named(library)
    for candidate in LIBRARIES.values():
        if candidate.has(arch):
            return candidate
    names = [name for candidate in LIBRARIES.values() for name in candidate.names()]
    raise ValueError(
        f"unknown architecture '{arch}'{close_matches(arch, names)}; give one of zooselect's "
        "(resnet, densenet, resnet18 ... densenet201), a torchvision classifier or a timm model"
    )

"""Any torchvision classification model as a zoo expert: features, source head, own preprocessing.

ResNets and DenseNets come from the registry's wrappers
(:mod:`zooselect.models.torchvision_models`, which also give LGC its last
convolution). Every other classifier in ``torchvision.models`` (ConvNeXt,
EfficientNet, MobileNet, RegNet, Swin, ViT, VGG, ...) is wrapped here the
same way: the model's last linear layer, its classifier, becomes ``head``
and is replaced by ``nn.Identity`` inside ``body``, so ``body(x)`` is
exactly the input of the classifier (the penultimate features) and
``head(body(x))`` is torchvision's own forward.

torchvision is imported only when a model is built.
"""

from __future__ import annotations

from torch import nn

from ..options import close_matches
from .inputs import InputSpec, imagenet_input
from .library_model import LibraryModel
from .torchvision_models import TORCHVISION_ARCHITECTURES, resolve_weights


IMAGENET_CLASSES = 1000
_NO_AUX = ("googlenet", "inception_v3")  # their auxiliary heads change what forward returns in training


def torchvision_classifier_names() -> list[str]:
    """The names of torchvision's image-classification models (``torchvision.models.list_models``)."""
    import torchvision.models

    return sorted(torchvision.models.list_models(module=torchvision.models))


def check_torchvision_name(name: str) -> None:
    """A ValueError naming the closest valid names when ``name`` is not a torchvision classifier."""
    names = torchvision_classifier_names()
    if name not in names:
        raise ValueError(
            f"unknown torchvision model '{name}'{close_matches(name, names)}; "
            f"valid models: {', '.join(names)}"
        )


def _last_linear(net: nn.Module, num_classes: int) -> str:
    """The dotted name of the last linear layer with ``num_classes`` outputs: the classifier."""
    names = [
        name
        for name, module in net.named_modules()
        if isinstance(module, nn.Linear) and module.out_features == num_classes
    ]
    if not names:
        raise ValueError(
            f"{type(net).__name__} has no linear classifier with {num_classes} outputs "
            "(a convolutional classifier, as in SqueezeNet, is not supported)"
        )
    return names[-1]


def drop_aux_outputs(net: nn.Module) -> None:
    """Make a network with auxiliary heads return only its main output in training mode too.

    inception_v3 with weights keeps its auxiliary classifier (torchvision's
    parameter count, 27.2 M, includes it) and in training mode returns
    ``InceptionOutputs(logits, aux_logits)``, which fine-tuning cannot use.
    The module stays (the parameter count is torchvision's); its output is
    no longer returned. googlenet drops its auxiliary heads itself.
    """
    if getattr(net, "aux_logits", False):
        net.aux_logits = False


class TorchvisionClassifier(LibraryModel):
    """A torchvision classifier split at its last linear layer into ``body`` and ``head``."""

    def __init__(self, arch: str, num_classes: int | None = None, weights: str | None = None) -> None:
        from torchvision.models import get_model_builder

        check_torchvision_name(arch)
        resolved = resolve_weights(arch, weights)
        builder = get_model_builder(arch)
        if resolved is None:
            extra = {"aux_logits": False} if arch in _NO_AUX else {}
            net = builder(weights=None, num_classes=num_classes or IMAGENET_CLASSES, **extra)
            outputs = num_classes or IMAGENET_CLASSES
        else:
            net = builder(weights=resolved)
            outputs = len(resolved.meta["categories"])
        drop_aux_outputs(net)
        classifier_name = _last_linear(net, outputs)
        head = net.get_submodule(classifier_name)
        net.set_submodule(classifier_name, nn.Identity())
        super().__init__(arch, net, head, classifier_name, num_classes)


def torchvision_model(arch: str, weights: str | None = "DEFAULT", num_classes: int | None = None) -> nn.Module:
    """torchvision's ``arch`` with ``weights`` (a weights name, or None for random initialisation).

    With weights, the head keeps the classes the weights were trained on
    (ImageNet's 1000) unless ``num_classes`` asks for others; without,
    ``num_classes`` defaults to 1000. ResNets and DenseNets are the
    registry's wrappers (which also serve LGC).
    """
    if arch in TORCHVISION_ARCHITECTURES:
        if num_classes is None:
            resolved = resolve_weights(arch, weights)
            num_classes = len(resolved.meta["categories"]) if resolved is not None else IMAGENET_CLASSES
        return TORCHVISION_ARCHITECTURES[arch](num_classes=num_classes, weights=weights)
    return TorchvisionClassifier(arch, num_classes, weights)


def torchvision_input(arch: str, weights: str | None = None) -> InputSpec:
    """The preparation ``weights`` were trained with (from their transforms; nothing is
    downloaded); ImageNet's usual one (resize 256, crop 224) without weights."""
    check_torchvision_name(arch)
    resolved = resolve_weights(arch, weights)
    if resolved is None:
        return imagenet_input()
    transform = resolved.transforms()
    return InputSpec(
        size=int(transform.crop_size[0]),
        resize=int(transform.resize_size[0]),
        mean=tuple(float(v) for v in transform.mean),
        std=tuple(float(v) for v in transform.std),
        interpolation=transform.interpolation.value,
    )


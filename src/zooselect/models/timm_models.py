"""timm models as zoo experts: timm's own pooling for features, its classifier for probabilities.

:class:`TimmModel` holds a ``timm.create_model`` model as ``body`` with its
classifier reset (``reset_classifier(0)``), so ``body(x)`` is
``forward_head(forward_features(x), pre_logits=True)``: timm's own global
pooling (and, for ViTs, its token pooling and final norm) on the last
feature map. The classifier, taken out before the reset, is ``head``:
``head(body(x))`` is the timm model's forward. This is the layout of the
registry's models, so fine-tuning swaps ``head`` the same way.

:func:`timm_input` reads the model's ``pretrained_cfg`` (input size,
crop fraction, interpolation, mean and std) as timm's own eval transform
would. timm is imported only when a model is built (importing it takes
seconds); weights are downloaded only with ``pretrained=True``.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from ..options import close_matches
from .inputs import InputSpec
from .library_model import LibraryModel



def timm_model_names() -> list[str]:
    """Every architecture timm can build (``timm.list_models()``)."""
    import timm

    return timm.list_models()


def check_timm_name(name: str) -> None:
    """A ValueError naming the closest names when timm has no model ``name`` (tags such as
    ``resnet50.a1_in1k`` are allowed)."""
    import timm
    from timm.models import split_model_name_tag

    if not isinstance(name, str) or not timm.is_model(split_model_name_tag(name)[0]):
        names = timm_model_names()
        raise ValueError(
            f"unknown timm model '{name}'{close_matches(name, names)}; "
            "timm.list_models() lists the valid names"
        )


class TimmModel(LibraryModel):
    """A timm classifier split into ``body`` (up to timm's pooled pre-logits) and ``head``."""

    def __init__(
        self,
        name: str,
        pretrained: bool = False,
        num_classes: int | None = None,
        **options: Any,
    ) -> None:
        import timm

        check_timm_name(name)
        try:
            net = timm.create_model(name, pretrained=pretrained, **options)
        except TypeError as error:
            raise ValueError(f"bad options {options} for timm model '{name}': {error}") from error
        head = net.get_classifier()
        if not isinstance(head, nn.Linear):
            raise ValueError(
                f"timm model '{name}' has a {type(head).__name__} classifier; zooselect needs a single "
                "linear classifier (distilled models with two heads are not supported)"
            )
        classifier_name = _classifier_name(net.pretrained_cfg.get("classifier"))
        net.reset_classifier(0)  # body(x) is now timm's pooled pre-logits
        super().__init__(name, net, head, classifier_name, num_classes)


def timm_classifier_key(name: str) -> str:
    """The state-dict key of ``name``'s classifier weight in timm's own keys, without building it."""
    from timm.models import get_pretrained_cfg, split_model_name_tag

    cfg = get_pretrained_cfg(split_model_name_tag(name)[0])
    return f"{_classifier_name(getattr(cfg, 'classifier', None))}.weight"


def _classifier_name(classifier: str | tuple[str, ...] | None) -> str:
    """A pretrained_cfg's ``classifier`` (a name, or a tuple of names for models with two heads)."""
    if not classifier:
        return "head"
    return classifier if isinstance(classifier, str) else classifier[0]


def timm_input(model: TimmModel) -> InputSpec:
    """How timm's eval transform prepares images for ``model`` (from its pretrained_cfg)."""
    from timm.data import resolve_model_data_config

    config = resolve_model_data_config(model.body)
    _, height, width = config["input_size"]
    size = max(int(height), int(width))  # the target images are square
    crop_pct = float(config.get("crop_pct") or 1.0)
    interpolation = config.get("interpolation", "bilinear")
    if interpolation not in ("nearest", "bilinear", "bicubic"):
        interpolation = "bilinear"
    return InputSpec(
        size=size,
        resize=max(size, math.floor(size / crop_pct)),  # timm: scale_size = floor(img_size / crop_pct)
        mean=tuple(config["mean"]),
        std=tuple(config["std"]),
        interpolation=interpolation,
    )

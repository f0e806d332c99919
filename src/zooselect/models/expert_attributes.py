"""Per-expert scalars that target-agnostic baselines rank by: source accuracy and parameter count.

Cache extraction writes them into every cache's attributes (``source_accuracy``,
``parameter_count``), where the ``source_accuracy`` and ``parameter_count``
methods (``zooselect.scores``) read them. They describe the expert, not the
target, so they are looked up here from what a loaded expert already carries:

- ``parameter_count``: every parameter of the model as loaded (body and head,
  each shared tensor once), ``sum(p.numel() for p in model.parameters())``.
- ``source_accuracy``, a fraction in [0, 1]:

  - torchvision weights: the ImageNet-1K top-1 accuracy torchvision publishes
    in the weights' metadata, ``weights.meta["_metrics"]["ImageNet-1K"]["acc@1"] / 100``
    (read offline: nothing is downloaded);
  - timm: timm's ``pretrained_cfg`` has no key that holds an accuracy
    (timm 1.0's ``PretrainedCfg`` has input size, crop, interpolation,
    mean/std, classifier, licence, description, paper ids, notes, ... but no
    results: timm publishes those as CSVs in its repository's ``results/``,
    not in the package), so it is NaN, with that reason logged;
  - our trained experts: their source test accuracy, stored in the
    checkpoint's metrics as ``source_test_accuracy``;
  - anything else (random initialisation, a plain state dict or safetensors
    file, whose weights have no recorded source accuracy): NaN, reason logged.

A NaN source accuracy makes the ``source_accuracy`` method refuse that
expert with a clear message (NaN in ``zooselect rank``; the benchmark stops).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from torch import nn

log = logging.getLogger(__name__)

#: The attribute names a cache carries (the registry's scalar inputs of the same names).
EXPERT_ATTRIBUTES = ("source_accuracy", "parameter_count")
#: torchvision's metadata: the dataset and metric of a classification weight's accuracy.
TORCHVISION_DATASET, TORCHVISION_METRIC = "ImageNet-1K", "acc@1"


def parameter_count(model: nn.Module) -> int:
    """The number of parameters of `model` as loaded (head included; a shared tensor counts once)."""
    return int(sum(parameter.numel() for parameter in model.parameters()))


def torchvision_source_accuracy(arch: str, weights: str | None) -> float:
    """ImageNet-1K top-1 of torchvision's `weights` for `arch` as a fraction (``acc@1 / 100``).

    `weights` is a weights enum name ("IMAGENET1K_V1", "DEFAULT",
    "ResNet50_Weights.IMAGENET1K_V1"); None (random initialisation) and
    weights whose metadata has no ImageNet-1K top-1 give NaN (reason
    logged). An unknown name raises ValueError.
    """
    from .torchvision_models import resolve_weights

    if weights is None:
        return _unknown(f"torchvision {arch} without weights (random initialisation) has no source accuracy")
    resolved = resolve_weights(arch, weights)
    metrics = resolved.meta.get("_metrics", {}).get(TORCHVISION_DATASET, {})
    if TORCHVISION_METRIC not in metrics:
        return _unknown(
            f"torchvision {resolved} publishes no {TORCHVISION_DATASET} {TORCHVISION_METRIC} in its metadata"
        )
    return float(metrics[TORCHVISION_METRIC]) / 100.0


def timm_source_accuracy(pretrained_cfg: Any) -> float:
    """A timm model's source accuracy from its ``pretrained_cfg`` (a PretrainedCfg or a dict): NaN.

    timm's pretrained_cfg has no accuracy key (see the module docstring);
    the reason is logged, naming the model (its ``architecture`` and ``tag``).
    """
    cfg = pretrained_cfg.to_dict() if hasattr(pretrained_cfg, "to_dict") else dict(pretrained_cfg or {})
    name = ".".join(part for part in (cfg.get("architecture"), cfg.get("tag")) if part) or "model"
    return _unknown(
        f"timm {name}: timm's pretrained_cfg has no accuracy key (its keys: {', '.join(sorted(cfg))}); "
        "timm publishes ImageNet results in its repository's results/ CSVs, not in the package"
    )


def checkpoint_source_accuracy(metrics: Mapping[str, Any]) -> float:
    """A zooselect checkpoint's source test accuracy (its metrics' ``source_test_accuracy``), or NaN."""
    if "source_test_accuracy" not in metrics:
        return _unknown("the checkpoint's metrics have no source_test_accuracy")
    return float(metrics["source_test_accuracy"])


def source_accuracy(model: nn.Module, info: Mapping[str, Any]) -> float:
    """The source accuracy of a loaded expert, from the ``info`` its loader returned.

    info: ``load_checkpoint``'s (``metrics``), or a zoo entry's as
    ``userzoo.load_expert`` gives it (``library`` torchvision with ``arch``
    and ``weights``; timm with ``pretrained``, read from the model's
    ``pretrained_cfg``; a local file's ``format``). NaN, reason logged,
    where the expert's weights carry none.
    """
    if "metrics" in info:  # a zooselect checkpoint (ours, or a local one in a user's zoo)
        return checkpoint_source_accuracy(info["metrics"])
    if "format" in info:
        return _unknown(f"weights from a {info['format']} file carry no source accuracy")
    library = info.get("library")
    if library == "torchvision":
        return torchvision_source_accuracy(info["arch"], info.get("weights"))
    if library == "timm":
        if not info.get("pretrained", False):
            return _unknown(f"timm {info.get('arch')} without pretrained weights has no source accuracy")
        body = getattr(model, "body", model)
        return timm_source_accuracy(getattr(body, "pretrained_cfg", None))
    return _unknown(f"no source accuracy is known for an expert loaded as {dict(info)}")


def expert_attributes(model: nn.Module, info: Mapping[str, Any]) -> dict[str, float | int]:
    """The cache attributes of a loaded expert: ``{"source_accuracy": ..., "parameter_count": ...}``."""
    return {"source_accuracy": source_accuracy(model, info), "parameter_count": parameter_count(model)}


def _unknown(reason: str) -> float:
    log.warning("source accuracy unknown (NaN): %s", reason)
    return math.nan

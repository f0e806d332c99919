"""Experts from local checkpoint files: ours, or a plain state dict / safetensors file and an architecture.

Three kinds of file load, and only these:

- a zooselect checkpoint (``save_checkpoint``): it names its architecture;
- a plain state dict saved with ``torch.save`` (possibly wrapped as
  ``{"state_dict": ...}`` or ``{"model": ...}``, keys possibly prefixed with
  ``module.``), with an architecture name;
- a ``.safetensors`` file, with an architecture name.

Files are read with ``torch.load(..., weights_only=True)`` or safetensors,
so no pickled code ever runs: a file holding anything but tensors and plain
values is refused, naming the file. The architecture's library builds it
(:func:`.registry.find_library`: zooselect's, then torchvision's, then
timm's, unless ``library`` says which; an unknown name lists the close
matches), and :func:`local_input` gives its input preparation.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import checkpoint_input, checkpoint_model, read_tensor_file
from .inputs import InputSpec
from .library_model import LibraryModel
from .registry import find_library, library_named

log = logging.getLogger(__name__)

_WRAPPERS = ("state_dict", "model_state_dict", "model", "module", "net")  # common nestings


def plain_state_dict(payload: Any, path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a plain state dict (unwrapping ``{"state_dict": ...}`` and ``module.``)."""
    for _ in range(2):  # at most two levels of wrapping, e.g. {"model": {"state_dict": ...}}
        if isinstance(payload, dict) and not _all_tensors(payload):
            inner = [payload[key] for key in _WRAPPERS if isinstance(payload.get(key), dict)]
            if inner:
                payload = inner[0]
    if not isinstance(payload, dict) or not payload or not _all_tensors(payload):
        raise ValueError(
            f"{path} is not a state dict (a mapping of names to tensors)"
            + (f"; it holds {_summary(payload)}" if isinstance(payload, dict) else "")
        )
    if all(key.startswith("module.") for key in payload):  # saved from DataParallel
        payload = {key[len("module.") :]: value for key, value in payload.items()}
    return payload


def _all_tensors(mapping: dict) -> bool:
    return all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in mapping.items())


def _summary(mapping: dict) -> str:
    keys = list(mapping)[:5]
    return "keys " + ", ".join(map(repr, keys)) + (" ..." if len(mapping) > 5 else "")


def is_zooselect_checkpoint(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("format") == "zooselect-checkpoint-1"


def infer_num_classes(state: dict[str, torch.Tensor], keys: list[str], path: str | Path) -> int:
    """Rows of the classifier weight, found under the first of ``keys`` in ``state``."""
    numbered = sorted(
        (k for k in state if re.fullmatch(r"classifier\.\d+\.weight", k)),
        key=lambda k: int(k.split(".")[1]),
    )
    for key in [*keys, *numbered[-1:]]:
        if key in state and state[key].ndim == 2:
            return int(state[key].shape[0])
    raise ValueError(f"cannot tell the number of classes of {path} (no classifier weight found): give num_classes")


def load_state_into(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path, arch: str) -> None:
    """Load ``state`` (the model's own keys or its library's) strictly, naming what does not fit."""
    try:
        if isinstance(model, LibraryModel) and not _ours(state):
            model.load_library_state_dict(state)  # the library's own keys
        else:  # ours, or the registry's torchvision wrappers (which map torchvision keys themselves)
            model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        message = str(error)
        if len(message) > 600:
            message = message[:600] + " ..."
        raise ValueError(f"checkpoint {path} does not fit architecture '{arch}': {message}") from error


def _ours(state: dict[str, torch.Tensor]) -> bool:
    """A state dict already under the wrapper's keys (body.*, head.*)."""
    return all(key.startswith(("body.", "head.")) for key in state)


def load_local_expert(
    path: str | Path,
    arch: str | None = None,
    library: str | None = None,
    options: dict[str, Any] | None = None,
    num_classes: int | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """The model in checkpoint file ``path`` and what it is (``format``, ``arch``, ``library``, ...).

    A zooselect checkpoint needs nothing else (``arch`` must then match it,
    if given); a plain state dict or safetensors file needs ``arch``
    (``library``, ``options`` and ``num_classes`` are optional: the number
    of classes is read from the classifier's weight).
    """
    path = Path(path)
    payload = read_tensor_file(path)
    if is_zooselect_checkpoint(payload):
        model, info = checkpoint_model(payload, path)
        spec = info["spec"]
        if arch is not None and arch != spec["arch"]:
            raise ValueError(f"checkpoint {path} holds architecture '{spec['arch']}', not '{arch}'")
        return model, {"format": "zooselect", "arch": spec["arch"], "library": "zooselect", **info}
    state = plain_state_dict(payload, path)
    if arch is None:
        raise ValueError(
            f"{path} is a plain state dict: give its architecture (arch: resnet50, a timm name, ...)"
        )
    found = find_library(arch, library)
    if num_classes is None:
        num_classes = infer_num_classes(state, found.classifier_keys(arch), path)
    model = found.build(arch, num_classes, options=options)
    load_state_into(model, state, path, arch)
    fmt = "safetensors" if path.suffix == ".safetensors" else "state_dict"
    log.info("loaded %s (%s, %s %s, %d classes)", path, fmt, found.name, arch, num_classes)
    return model, {"format": fmt, "arch": arch, "library": found.name, "num_classes": num_classes}


def local_input(model: nn.Module, info: dict[str, Any], options: dict[str, Any] | None = None) -> InputSpec:
    """How the expert ``load_local_expert`` returned (with its ``info``) expects its images: a
    zooselect checkpoint's as it was trained (:func:`.checkpoint.checkpoint_input`), a state
    dict's as its library prepares an untrained ``arch`` (the registry's)."""
    if info["format"] == "zooselect":
        return checkpoint_input(info)
    return library_named(info["library"]).input(info["arch"], model, options=options)


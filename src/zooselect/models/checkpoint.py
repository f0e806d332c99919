"""Save and load expert checkpoints safely.

A checkpoint holds only tensors and plain Python values (the state dict, the
architecture spec, the source classes, the training metrics), so it loads
with ``torch.load(..., weights_only=True)``: no pickled code ever runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .inputs import InputSpec, benchmark_input
from .registry import create_model


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    arch: str,
    arch_options: dict[str, Any],
    classes: list[str],
    metrics: dict[str, Any],
) -> None:
    """Write a checkpoint atomically (temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": "zooselect-checkpoint-1",
        "spec": {"arch": arch, "options": dict(arch_options), "num_classes": len(classes)},
        "classes": list(classes),
        "metrics": dict(metrics),
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint was saved from; return it with its info.

    Raises ValueError naming the file and the architecture when the state
    dict does not fit the architecture spec it claims.
    """
    path = Path(path)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != "zooselect-checkpoint-1":
        raise ValueError(f"{path} is not a zooselect checkpoint")
    spec = payload["spec"]
    model = create_model(spec["arch"], spec["num_classes"], **spec["options"])
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as error:
        raise ValueError(
            f"checkpoint {path} does not fit architecture '{spec['arch']}' "
            f"with options {spec['options']}: {error}"
        ) from error
    info = {key: payload[key] for key in ("spec", "classes", "metrics")}
    return model, info


def checkpoint_input(info: dict[str, Any]) -> InputSpec:
    """How a zooselect checkpoint's expert reads images: per-image standardisation at the size
    it was trained at (``input_size`` in its metrics; 32, the embedded data's, before it was recorded)."""
    return benchmark_input(int(info.get("metrics", {}).get("input_size", 32)))

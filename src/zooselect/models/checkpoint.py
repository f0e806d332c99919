"""Save and load expert checkpoints safely.

A checkpoint holds only tensors and plain Python values (the state dict, the
architecture spec, the source classes, the training metrics), so it loads
with ``torch.load(..., weights_only=True)``: no pickled code ever runs.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..io import BadFileError, atomic_path
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
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_tensor_file(path: str | Path) -> Any:
    """The contents of a checkpoint file, read without running pickled code.

    Raises :class:`zooselect.io.BadFileError` naming the file when it is
    missing, truncated, not a tensor file, or would need pickled code
    (classes, functions) to load. torch's own advice on such files (to load
    them with ``weights_only=False``, i.e. to run their code) is never passed on.
    """
    path = Path(path)
    if not path.is_file():
        raise BadFileError(path, f"checkpoint {path} does not exist or is not a file")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path, device="cpu")
        except (SafetensorError, OSError, ValueError) as error:
            raise BadFileError(path, f"cannot read {path} as a safetensors file: {error}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        detail = _unpickler_detail(error)
        if "GLOBAL" in detail or "global" in detail:
            problem = (
                f"refusing checkpoint {path}: it is not a plain tensor file, and loading it would run "
                f"pickled code ({detail}). Save a state dict (model.state_dict()) or a .safetensors file"
            )
        else:
            problem = f"not a checkpoint: torch cannot read it as a file of tensors ({detail})"
        raise BadFileError(path, problem) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise BadFileError(path, f"a truncated or damaged checkpoint ({_safe(str(error))})") from None


def _unpickler_detail(error: pickle.UnpicklingError) -> str:
    """What torch's weights-only unpickler objected to, without torch's advice around it."""
    text = str(error)
    match = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\s*\n|\n\s*Check the documentation|$)", text, re.S)
    detail = _safe(match.group(1) if match else text)
    return detail.split(". Please", 1)[0]  # torch goes on to say how to allow-list the code


def _safe(text: str) -> str:
    """The first line of a torch message that carries no advice to turn weights_only off."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    kept = [line for line in lines if "weights_only" not in line and "trusted source" not in line]
    return (kept[0] if kept else "unreadable")[:300]


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint was saved from; return it with its info.

    Raises :class:`zooselect.io.BadFileError` naming the file (and the
    architecture, when the state dict does not fit the spec it claims).
    """
    return checkpoint_model(read_tensor_file(path), path)


def checkpoint_model(payload: Any, path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The model and info of a zooselect checkpoint's contents ``payload``, read from ``path``
    by :func:`read_tensor_file` (for the errors, which name ``path``)."""
    path = Path(path)
    if not isinstance(payload, dict) or payload.get("format") != "zooselect-checkpoint-1":
        raise BadFileError(path, "not a zooselect checkpoint (no 'format': 'zooselect-checkpoint-1')")
    missing = [key for key in ("spec", "classes", "metrics", "state_dict") if key not in payload]
    spec = payload.get("spec")
    if missing or not isinstance(spec, dict) or not {"arch", "options", "num_classes"} <= set(spec):
        raise BadFileError(path, f"a zooselect checkpoint lacking {', '.join(missing) or 'parts of its spec'}")
    model = create_model(spec["arch"], spec["num_classes"], **spec["options"])
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as error:
        raise BadFileError(
            path,
            f"checkpoint {path} does not fit architecture '{spec['arch']}' "
            f"with options {spec['options']}: {error}"
        ) from error
    info = {key: payload[key] for key in ("spec", "classes", "metrics")}
    return model, info


def checkpoint_input(info: dict[str, Any]) -> InputSpec:
    """How a zooselect checkpoint's expert reads images: per-image standardisation at the size
    it was trained at (``input_size`` in its metrics; 32, the embedded data's, before it was recorded)."""
    return benchmark_input(int(info.get("metrics", {}).get("input_size", 32)))

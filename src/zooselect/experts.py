"""Training the zoo's experts: single-domain and generic.

A single-domain expert learns one source's classes; the generic expert of
an architecture learns the union of every source's classes (the analogue of
the paper's ImageNet expert and the baseline for every gain). An expert
with init "generic" starts from its architecture's generic expert (all
weights but the head), the paper's "with ImageNet pre-training".
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .data import Dataset
from .models import create_model, load_checkpoint
from .training import Resume, Schedule, accuracy, to_tensor, train

log = logging.getLogger(__name__)


def merge_sources(names: Sequence[str], datasets: Sequence[Dataset]) -> Dataset:
    """The union of several datasets, classes renamed ``source/class`` and labels offset."""
    offset = 0
    parts: dict[str, list[np.ndarray]] = {"x_train": [], "y_train": [], "x_test": [], "y_test": []}
    classes: list[str] = []
    for name, dataset in zip(names, datasets):
        parts["x_train"].append(dataset.x_train)
        parts["y_train"].append(dataset.y_train + offset)
        parts["x_test"].append(dataset.x_test)
        parts["y_test"].append(dataset.y_test + offset)
        classes += [f"{name}/{c}" for c in dataset.classes]
        offset += dataset.num_classes
    return Dataset(**{key: np.concatenate(value) for key, value in parts.items()}, classes=classes)


def initialise_from(model: nn.Module, checkpoint: str) -> None:
    """Copy every weight but the classification head from ``checkpoint``."""
    generic, info = load_checkpoint(checkpoint)
    state = {k: v for k, v in generic.state_dict().items() if not k.startswith("head.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("head.") for k in missing):
        raise ValueError(
            f"generic checkpoint {checkpoint} ({info['spec']}) does not fit the expert's "
            f"architecture: missing {missing}, unexpected {unexpected}"
        )


def train_expert(
    arch: str,
    arch_options: dict[str, Any],
    dataset: Dataset,
    schedule: Schedule,
    seed: int,
    init_checkpoint: str | None = None,
    description: str = "expert",
    device: torch.device | str = "cpu",
    resume: Resume | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train one expert on ``dataset``; return it and its metrics (source test accuracy).

    The network is built on the CPU (the same initial weights everywhere)
    and trained on ``device``; ``resume`` makes a killed run continue from
    its last saved step (``training.train``).
    """
    torch.manual_seed(seed)
    model = create_model(arch, dataset.num_classes, **arch_options)
    model = model.to(memory_format=torch.channels_last)
    if init_checkpoint:
        initialise_from(model, init_checkpoint)
    model = model.to(device)
    x_train, y_train = to_tensor(dataset.x_train), torch.from_numpy(dataset.y_train)
    result = train(model, x_train, y_train, schedule, seed, description, resume)
    test_accuracy = accuracy(model, to_tensor(dataset.x_test), torch.from_numpy(dataset.y_test))
    metrics = {
        "source_test_accuracy": test_accuracy,
        "final_train_loss": result.final_loss,
        "steps": result.steps,
        "train_seconds": result.seconds,
        "train_images": int(len(dataset.y_train)),
        "test_images": int(len(dataset.y_test)),
    }
    log.info("%s: source test accuracy %.4f", description, test_accuracy)
    return model, metrics

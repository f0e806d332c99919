"""Training the zoo's experts: single-domain and generic.

A single-domain expert learns one source's classes; the generic expert of
an architecture learns the union of every source's classes (the analogue of
the paper's ImageNet expert and the baseline for every gain). An expert
with init "generic" starts from its architecture's generic expert (all
weights but the head), the paper's "with ImageNet pre-training".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .data import Dataset, StreamedDataset
from .data.stream import ConcatSource, Images
from .models import create_model, load_checkpoint
from .models.inputs import benchmark_input
from .training import Resume, Schedule, accuracy, train

log = logging.getLogger(__name__)


def merge_sources(names: Sequence[str], datasets: Sequence[Any]) -> Any:
    """The union of several datasets, classes renamed ``source/class`` and labels offset.

    Packed datasets merge into one packed Dataset; otherwise the union reads
    each part's images where they are (a StreamedDataset of ConcatSources).
    """
    if len(datasets) == 1:
        (dataset,) = datasets
        return dataset
    classes = [f"{name}/{c}" for name, dataset in zip(names, datasets) for c in dataset.classes]
    offsets = np.cumsum([0] + [d.num_classes for d in datasets[:-1]])
    sizes = {d.image_size for d in datasets}
    if len(sizes) != 1:
        raise ValueError(f"sources {', '.join(names)} differ in image_size ({sorted(sizes)}); give them one")
    if all(isinstance(d, Dataset) for d in datasets):
        parts = {key: [getattr(d, key) for d in datasets] for key in ("x_train", "x_test")}
        return Dataset(
            np.concatenate(parts["x_train"]),
            np.concatenate([d.y_train + o for d, o in zip(datasets, offsets)]),
            np.concatenate(parts["x_test"]),
            np.concatenate([d.y_test + o for d, o in zip(datasets, offsets)]),
            classes,
        )
    train = ConcatSource([d.source("train") for d in datasets], offsets)
    test = ConcatSource([d.source("test") for d in datasets], offsets)
    return StreamedDataset(train, test, classes, sizes.pop(), train.fingerprint())


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
    dataset: Any,
    schedule: Schedule,
    seed: int,
    init_checkpoint: str | None = None,
    description: str = "expert",
    device: torch.device | str = "cpu",
    resume: Resume | None = None,
    workers: int = 0,
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
    spec = benchmark_input(dataset.image_size)
    result = train(model, Images(dataset.source("train")), schedule, seed, description, resume, spec, workers)
    test_accuracy = accuracy(model, Images(dataset.source("test")), spec, workers)
    metrics = {
        "source_test_accuracy": test_accuracy,
        "final_train_loss": result.final_loss,
        "steps": result.steps,
        "train_seconds": result.seconds,
        "train_images": int(len(dataset.y_train)),
        "test_images": int(len(dataset.y_test)),
        "input_size": dataset.image_size,
    }
    log.info("%s: source test accuracy %.4f", description, test_accuracy)
    return model, metrics

"""The one extractor: what an expert makes of a set of images, streamed batch by batch.

Every consumer of an expert's outputs goes through here: the workflow's
caches (``extract_cache``), its source class means (Domain Similarity),
RSA's probe features, test accuracy, and ``zooselect rank``; ``write_extraction``
writes the caches of the first and the last. Images stream
through :func:`zooselect.data.stream.batches`, prepared by the expert's
:class:`~zooselect.models.inputs.InputSpec`; only the outputs (N × D
features, N × C probabilities, N × Dg projected gradients) are held, never
the images.

Per-sample gradients (LGC) need a ridge head fitted on every sampled
image's features, so they are a second pass: features first, then the
gradients batch by batch, each batch projected to Dg dimensions at once, so
memory holds one batch of full gradients at most.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .cache import write_cache
from .data.stream import Images, batches, in_order
from .devices import autocast, device_of
from .models.inputs import BENCHMARK_INPUT, InputSpec

log = logging.getLogger(__name__)

EVAL_BATCH = 256
GRADIENT_BATCH = 64


def _stream(images: Images, spec: InputSpec, device: torch.device, workers: int, batch_size: int):
    transform, finish = spec.loading(images.source.packed)
    plan = in_order(images.indices, batch_size)
    return batches(images.source, plan, transform, device, workers, draft=spec.resize, finish=finish)


@torch.no_grad()
def predict(
    model: nn.Module,
    images: Images,
    spec: InputSpec = BENCHMARK_INPUT,
    workers: int = 0,
    batch_size: int = EVAL_BATCH,
) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features (N, D) and head softmax probabilities (N, C) of ``images``, in eval mode.

    ``model`` has ``features(x)`` and ``head``; it runs on its own device
    and the arrays come back as float32 on the CPU.
    """
    model.eval()
    device = device_of(model)
    features, probs = [], []
    for x, _, _ in _stream(images, spec, device, workers, batch_size):
        with autocast(device):
            f = model.features(x)
            p = torch.softmax(model.head(f).float(), dim=1)
        features.append(f.float().cpu().numpy())
        probs.append(p.cpu().numpy())
    if not features:
        raise ValueError("no images to extract")
    return np.concatenate(features), np.concatenate(probs)


def projected_gradients(
    model: nn.Module,
    images: Images,
    features: np.ndarray,
    num_classes: int,
    dim: int,
    seed: int,
    ridge: float = 1e3,
    spec: InputSpec = BENCHMARK_INPUT,
    workers: int = 0,
    batch_size: int = GRADIENT_BATCH,
) -> np.ndarray:
    """(N, dim) randomly projected per-sample gradients of the last convolution (LGC), float32.

    The ridge head is fitted on ``features`` (every image's), then the
    gradients of each batch are computed and projected at once
    (:mod:`zooselect.gradients`).
    """
    from .gradients import fit_ridge_head, per_sample_gradients, projection_matrix

    device = device_of(model)
    labels = images.labels
    targets = nn.functional.one_hot(torch.as_tensor(labels), num_classes).float().to(device)
    head = fit_ridge_head(torch.as_tensor(features, device=device), targets, ridge)
    projection = None
    out = []
    for x, y, _ in _stream(images, spec, device, workers, batch_size):
        gradients = per_sample_gradients(model, x, y, num_classes, ridge, batch_size, head=head)
        if projection is None:
            projection = projection_matrix(gradients.shape[1], dim, seed).to(device)
        out.append((gradients @ projection).cpu().numpy().astype(np.float32))
    return np.concatenate(out)


@dataclass
class Extraction:
    """An expert's outputs on a set of images, and the seconds each part took."""

    features: np.ndarray
    probs: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    gradients: np.ndarray | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def extract(
    model: nn.Module,
    images: Images,
    num_classes: int,
    spec: InputSpec = BENCHMARK_INPUT,
    gradient_dim: int = 0,
    gradient_ridge: float = 1e3,
    gradient_seed: int = 0,
    workers: int = 0,
) -> Extraction:
    """Features and source-head probabilities of ``images`` (the forward pass), and with
    ``gradient_dim`` their projected per-sample gradients; ``seconds`` has ``forward`` and
    ``gradients``."""
    start = time.perf_counter()
    features, probs = predict(model, images, spec, workers)
    seconds = {"forward": time.perf_counter() - start}
    gradients = None
    if gradient_dim:
        start = time.perf_counter()
        gradients = projected_gradients(
            model, images, features, num_classes, gradient_dim, gradient_seed, gradient_ridge, spec, workers
        )
        seconds["gradients"] = time.perf_counter() - start
    return Extraction(features, probs, images.labels, images.indices, gradients, seconds)


def write_extraction(path: str | Path, extraction: Extraction, attrs: dict[str, Any]) -> None:
    """Write ``extraction`` as a cache at ``path`` (:func:`zooselect.cache.write_cache`): its
    arrays, ``attrs``, and the seconds each part took (``forward_seconds``, ``gradient_seconds``
    and their sum ``seconds``). The workflow's caches and ``zooselect rank``'s are written here."""
    seconds = extraction.seconds
    write_cache(
        path,
        features=extraction.features,
        probs=extraction.probs,
        labels=extraction.labels,
        indices=extraction.indices,
        gradients=extraction.gradients,
        attrs={
            **attrs,
            "forward_seconds": seconds.get("forward", 0.0),
            "gradient_seconds": seconds.get("gradients", 0.0),
            "seconds": sum(seconds.values()),
        },
    )


def class_means(features: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(num_classes, D) mean feature per class and (num_classes,) image counts (0 rows for absent classes)."""
    counts = np.bincount(labels, minlength=num_classes)
    sums = np.zeros((num_classes, features.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, features)
    return sums / np.maximum(counts, 1)[:, None], counts


def source_class_means(
    model: nn.Module,
    dataset: Any,
    images_per_class: int,
    seed: int,
    spec: InputSpec = BENCHMARK_INPUT,
    workers: int = 0,
) -> tuple[dict[str, np.ndarray], int]:
    """An expert's class-mean features on its own source training images (for Domain Similarity).

    The means come from at most ``images_per_class`` images per class drawn
    with ``seed``; the weights are the classes' full image counts (Cui et
    al.). Returns ({"source_means", "source_counts"}, images used).
    """
    from .data import sample_per_class

    chosen = sample_per_class(dataset.y_train, images_per_class, seed)
    images = Images(dataset.source("train"), chosen)
    features, _ = predict(model, images, spec, workers)
    means, _ = class_means(features, images.labels, dataset.num_classes)
    counts = np.bincount(dataset.y_train, minlength=dataset.num_classes)
    return {"source_means": means, "source_counts": counts}, len(chosen)

"""Training the multi-domain expert: one network, every source, domain-specific parameters.

The sampling rule is docs/methods.md's: each epoch draws M = ``images_per_domain``
images from every source, without replacement when the source has at least
M training images and with replacement when it has fewer, so every domain
weighs the same whatever its size. Batches hold one domain each (per-domain
batch norm needs batch statistics of one domain), and the order of an
epoch's batches is shuffled across domains (:class:`DomainPlan`). The loop
itself is ``training.train``'s, as for every other training: augmentation,
SGD with Nesterov momentum and the step decay, the device, the resume
checkpoints. One optimiser holds every parameter; a domain's own ones get
no gradient at another domain's steps, and ``torch.optim.SGD`` leaves a
parameter without a gradient (and its momentum) untouched.

The architecture and its export to ordinary ``resnet`` zoo entries live in
``zooselect.models.multidomain_resnet``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .data.stream import Images
from .models.inputs import benchmark_input
from .models.multidomain_resnet import SHARED_ENTRY, MultiDomainResNet, check_variant, export_shared
from .seeding import derive_seed
from .training import Resume, Schedule, accuracy, train

log = logging.getLogger(__name__)


def epoch_draws(sizes: Sequence[int], images_per_domain: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch's training-image indices for each domain: exactly ``images_per_domain`` each.

    A domain with at least that many images gives a random subset (without
    replacement); a smaller one gives independent uniform draws (with
    replacement).
    """
    if images_per_domain < 1:
        raise ValueError(f"images_per_domain must be at least 1, got {images_per_domain}")
    draws = []
    for size in sizes:
        if size < 1:
            raise ValueError(f"cannot draw images from a domain with {size} training images")
        if size >= images_per_domain:
            draws.append(torch.randperm(size, generator=generator)[:images_per_domain])
        else:
            draws.append(torch.randint(size, (images_per_domain,), generator=generator))
    return draws


def epoch_batches(
    sizes: Sequence[int], images_per_domain: int, batch_size: int, generator: torch.Generator
) -> list[tuple[int, torch.Tensor]]:
    """One epoch as (domain index, image indices) batches, in an order shuffled across domains.

    Each domain's M draws (``epoch_draws``) are cut into ceil(M / batch_size)
    batches of nearly equal size (at most ``batch_size``, differing by at
    most one image), so no batch is a tiny remainder.
    """
    pieces = math.ceil(images_per_domain / batch_size)
    batches = [
        (domain, part)
        for domain, draw in enumerate(epoch_draws(sizes, images_per_domain, generator))
        for part in torch.tensor_split(draw, pieces)
    ]
    order = torch.randperm(len(batches), generator=generator)
    return [batches[i] for i in order.tolist()]


class DomainPlan:
    """The batches of every step of a multi-domain run: consecutive epochs of ``epoch_batches``.

    Epoch e is drawn with its own generator, seeded by the run's seed and e,
    so the batch of any step is known without replaying the steps before it
    (a resumed run takes exactly the batches an uninterrupted one would).
    """

    def __init__(self, sizes: Sequence[int], images_per_domain: int, batch_size: int, seed: int) -> None:
        self.sizes = list(sizes)
        self.images_per_domain = images_per_domain
        self.batch_size = batch_size
        self.seed = seed
        self.per_epoch = len(self.sizes) * math.ceil(images_per_domain / batch_size)
        self._epoch: tuple[int, list[tuple[int, torch.Tensor]]] | None = None

    def batch(self, step: int) -> tuple[int, np.ndarray]:
        epoch, position = divmod(step, self.per_epoch)
        if self._epoch is None or self._epoch[0] != epoch:
            generator = torch.Generator().manual_seed(derive_seed(self.seed, "epoch", epoch))
            self._epoch = (epoch, epoch_batches(self.sizes, self.images_per_domain, self.batch_size, generator))
        domain, index = self._epoch[1][position]
        return domain, index.numpy()


def batch_stream(
    sizes: Sequence[int], images_per_domain: int, batch_size: int, steps: int, seed: int
) -> Iterator[tuple[int, np.ndarray]]:
    """The first ``steps`` batches of a :class:`DomainPlan` (the last epoch cut short)."""
    plan = DomainPlan(sizes, images_per_domain, batch_size, seed)
    for step in range(steps):
        yield plan.batch(step)


class _DomainView(nn.Module):
    """One domain of a multi-domain network with a single-domain model's ``features``/``head``."""

    def __init__(self, model: MultiDomainResNet, domain: str) -> None:
        super().__init__()
        self.inner = model
        self.domain = domain
        self.head = model.heads[model.domain_index(domain)]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.features(x, self.domain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x, self.domain)


def train_multidomain(
    variant: str,
    arch_options: Mapping[str, Any],
    datasets: Mapping[str, Any],
    schedule: Schedule,
    images_per_domain: int,
    seed: int,
    description: str = "multidomain",
    device: torch.device | str = "cpu",
    resume: Resume | None = None,
    workers: int = 0,
) -> tuple[MultiDomainResNet, dict[str, Any]]:
    """Train one variant of the multi-domain expert on ``datasets`` (domain name -> dataset).

    ``schedule.steps`` counts optimiser steps over all domains together; the
    learning rate decays at the schedule's milestones as in ``training.train``.
    Shared parameters are updated at every step; a domain's own parameters
    (head, batch norms, adapters) only at its batches, with their own
    momentum, so another domain's steps neither decay nor drift them.
    Returns the network (eval mode) and its metrics: each domain's source
    test accuracy through its own parameters and head (and, for Shared, the
    accuracy of the concatenated head on all test sets, the ``shared-all``
    entry's), steps, seconds, images per domain.

    The network trains on ``device``. With ``resume`` the run saves its
    state every ``resume.every`` steps and continues from a saved state
    (``training.train`` does the same).
    """
    check_variant(variant)
    if not datasets:
        raise ValueError("a multi-domain expert needs at least one source dataset")
    if isinstance(images_per_domain, bool) or int(images_per_domain) != images_per_domain or images_per_domain < 1:
        raise ValueError(f"images_per_domain must be a positive integer, got {images_per_domain!r}")
    images_per_domain = int(images_per_domain)
    domains = list(datasets)
    empty = [d for d in domains if len(datasets[d].y_train) == 0]
    if empty:
        raise ValueError(f"source(s) without training images: {', '.join(empty)}")
    torch.manual_seed(seed)
    try:
        model = MultiDomainResNet(domains, [datasets[d].num_classes for d in domains], variant, **arch_options)
    except TypeError as error:
        raise ValueError(f"bad options {dict(arch_options)} for the multi-domain resnet: {error}") from error
    device = torch.device(device)
    model = model.to(device=device, memory_format=torch.channels_last)
    spec = benchmark_input(_image_size(datasets))
    train_sets = [Images(datasets[d].source("train")) for d in domains]
    plan = DomainPlan([len(s) for s in train_sets], images_per_domain, schedule.batch_size, seed)
    result = train(model, train_sets, schedule, seed, description, resume, spec, workers, plan, domains)
    losses = result.losses
    domain_losses: list[list[float]] = [[] for _ in domains]
    for step, loss in enumerate(losses):
        domain_losses[plan.batch(step)[0]].append(loss)
    seconds = result.seconds

    def test(d: str, view: nn.Module) -> float:
        return accuracy(view, Images(datasets[d].source("test")), spec, workers)

    test_accuracy = {d: test(d, _DomainView(model, d)) for d in domains}
    batches_per_epoch = len(domains) * math.ceil(images_per_domain / schedule.batch_size)
    metrics: dict[str, Any] = {
        "variant": variant,
        "domains": domains,
        "source_test_accuracy": test_accuracy,
        "mean_source_test_accuracy": float(np.mean(list(test_accuracy.values()))),
        "final_train_loss": float(np.mean(losses[-max(1, len(losses) // 20) :])),
        "final_train_loss_per_domain": {
            d: float(np.mean(l[-max(1, len(l) // 20) :])) if l else None for d, l in zip(domains, domain_losses)
        },
        "steps": schedule.steps,
        "epochs": schedule.steps / batches_per_epoch,
        "train_seconds": seconds,
        "images_per_domain": images_per_domain,
        "train_images": {d: int(len(datasets[d].y_train)) for d in domains},
        "input_size": spec.size,
        "test_images": {d: int(len(datasets[d].y_test)) for d in domains},
    }
    if variant == "shared":
        from .experts import merge_sources

        resnet, _ = export_shared(model)
        union = merge_sources(domains, [datasets[d] for d in domains])
        metrics["union_source_test_accuracy"] = accuracy(
            resnet.to(device), Images(union.source("test")), spec, workers
        )
    model.eval()
    log.info(
        "%s: %d steps in %.1f s; source test accuracy %s",
        description,
        schedule.steps,
        seconds,
        ", ".join(f"{d} {a:.4f}" for d, a in test_accuracy.items()),
    )
    return model, metrics


def _image_size(datasets: Mapping[str, Any]) -> int:
    sizes = {d: ds.image_size for d, ds in datasets.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"the multi-domain expert's sources differ in image size: {sizes}")
    return next(iter(sizes.values()))


def entry_metrics(metrics: Mapping[str, Any], entry: str) -> dict[str, Any]:
    """The metrics to store in one exported entry's checkpoint, shaped like a single-domain expert's.

    ``source_test_accuracy`` is the entry's domain's (for ``shared-all``, the
    concatenated head's on all test sets); the whole run's numbers are kept
    under their own names.
    """
    variant = metrics["variant"]
    if entry == SHARED_ENTRY and variant == "shared":
        accuracy_ = metrics["union_source_test_accuracy"]
        train_images = sum(metrics["train_images"].values())
        test_images = sum(metrics["test_images"].values())
    else:
        prefix = f"{variant}-"
        domain = entry[len(prefix) :] if entry.startswith(prefix) else None
        if variant == "shared" or domain not in metrics["domains"]:
            valid = [SHARED_ENTRY] if variant == "shared" else [prefix + d for d in metrics["domains"]]
            raise ValueError(f"unknown entry '{entry}' of the {variant} expert; valid entries: {', '.join(valid)}")
        accuracy_ = metrics["source_test_accuracy"][domain]
        train_images = metrics["train_images"][domain]
        test_images = metrics["test_images"][domain]
    return {
        "source_test_accuracy": accuracy_,
        "final_train_loss": metrics["final_train_loss"],
        "steps": metrics["steps"],
        "train_seconds": metrics["train_seconds"],
        "train_images": train_images,
        "input_size": metrics.get("input_size", 32),
        "test_images": test_images,
        "variant": variant,
        "images_per_domain": metrics["images_per_domain"],
        "domain_source_test_accuracy": dict(metrics["source_test_accuracy"]),
    }

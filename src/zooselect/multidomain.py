"""Training the multi-domain expert: one network, every source, domain-specific parameters.

The sampling rule is METHODS.md's: each epoch draws M = ``images_per_domain``
images from every source, without replacement when the source has at least
M training images and with replacement when it has fewer, so every domain
weighs the same whatever its size. Batches hold one domain each (per-domain
batch norm needs batch statistics of one domain), and the order of an
epoch's batches is shuffled across domains. Augmentation, per-image
standardisation, SGD with Nesterov momentum and the step decay are
``training.py``'s, and so are the device handling (the network's device)
and the resume checkpoints (``training.Resume``).

The architecture and its export to ordinary ``resnet`` zoo entries live in
``zooselect.models.multidomain``.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from .data import Dataset
from .models.multidomain import SHARED_ENTRY, MultiDomainResNet, check_variant, export_shared
from .training import (
    NesterovSGD,
    Resume,
    Schedule,
    _random_shift,
    accuracy,
    cpu_state,
    device_of,
    fingerprint,
    rng_state,
    set_rng_state,
    step_decay,
    to_tensor,
)

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


class EpochStream:
    """Batches from consecutive epochs of ``epoch_batches``, resumable at any step.

    An epoch's batches are drawn when its first batch is asked for, so the
    generator's draws interleave with the training loop's exactly as in one
    uninterrupted run.
    """

    def __init__(self, sizes: Sequence[int], images_per_domain: int, batch_size: int, generator: torch.Generator):
        self.sizes = list(sizes)
        self.images_per_domain = images_per_domain
        self.batch_size = batch_size
        self.generator = generator
        self.pending: list[tuple[int, torch.Tensor]] = []
        self.position = 0

    def next(self) -> tuple[int, torch.Tensor]:
        if self.position == len(self.pending):
            self.pending = epoch_batches(self.sizes, self.images_per_domain, self.batch_size, self.generator)
            self.position = 0
        batch = self.pending[self.position]
        self.position += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        rest = self.pending[self.position :]
        return {"domains": [d for d, _ in rest], "indices": [index.clone() for _, index in rest]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pending = [(int(d), index.clone()) for d, index in zip(state["domains"], state["indices"])]
        self.position = 0


def batch_stream(
    sizes: Sequence[int], images_per_domain: int, batch_size: int, steps: int, generator: torch.Generator
) -> Iterator[tuple[int, torch.Tensor]]:
    """``steps`` batches from consecutive epochs of ``epoch_batches`` (the last one cut short)."""
    stream = EpochStream(sizes, images_per_domain, batch_size, generator)
    for _ in range(steps):
        yield stream.next()


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
    datasets: Mapping[str, Dataset],
    schedule: Schedule,
    images_per_domain: int,
    seed: int,
    description: str = "multidomain",
    device: torch.device | str = "cpu",
    resume: Resume | None = None,
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
    xs = [to_tensor(datasets[d].x_train).to(device) for d in domains]
    ys = [torch.from_numpy(datasets[d].y_train).to(device) for d in domains]

    def optimiser(params: list[nn.Parameter]) -> NesterovSGD:
        return NesterovSGD(params, lr=schedule.lr, momentum=schedule.momentum, weight_decay=schedule.weight_decay)

    shared = optimiser(model.shared_parameters())
    own = [optimiser(model.domain_parameters(d)) for d in domains]
    generator = torch.Generator().manual_seed(seed)
    stream = EpochStream([len(y) for y in ys], images_per_domain, schedule.batch_size, generator)
    losses: list[float] = []
    domain_losses: list[list[float]] = [[] for _ in domains]
    first_step, seconds_before = 0, 0.0
    if resume is not None:
        key = fingerprint(variant, domains, schedule, seed, images_per_domain, xs, ys, model.state_dict())
        state = resume.load(key)
        if state is not None:
            model.load_state_dict(state["model"])
            shared.load_state_dict(state["shared"])
            for optimiser_, saved in zip(own, state["own"]):
                optimiser_.load_state_dict(saved)
            stream.load_state_dict(state["stream"])
            generator.set_state(state["generator"])
            set_rng_state(state["rng"], device)
            losses = list(state["losses"])
            domain_losses = [list(part) for part in state["domain_losses"]]
            first_step, seconds_before = int(state["step"]), float(state["seconds"])
            log.info("%s: resuming from step %d of %d (%s)", description, first_step, schedule.steps, resume.path)
        resume.started()
    model.train()
    start = time.perf_counter()
    progress = tqdm(
        range(first_step, schedule.steps), initial=first_step, total=schedule.steps,
        desc=description, file=sys.stderr, mininterval=10,
    )
    for step in progress:
        d, index = stream.next()
        index = index.to(device)
        lr = step_decay(schedule, step)
        shared.lr = own[d].lr = lr
        inputs = xs[d][index]
        if schedule.augment:
            inputs = _random_shift(inputs, schedule.max_shift, generator)
        loss = F.cross_entropy(model(inputs, domains[d]), ys[d][index])
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"{description}: loss became {loss.item()} on domain '{domains[d]}' (lr {schedule.lr} too high?)"
            )
        shared.zero_grad()
        own[d].zero_grad()
        loss.backward()
        shared.step()
        own[d].step()
        losses.append(loss.item())
        domain_losses[d].append(losses[-1])
        if resume is not None and resume.due(step + 1, schedule.steps):
            resume.save(
                {
                    "fingerprint": key,
                    "step": step + 1,
                    "model": cpu_state(model),
                    "shared": shared.state_dict(),
                    "own": [optimiser_.state_dict() for optimiser_ in own],
                    "stream": stream.state_dict(),
                    "generator": generator.get_state(),
                    "rng": rng_state(device),
                    "losses": losses,
                    "domain_losses": domain_losses,
                    "seconds": seconds_before + time.perf_counter() - start,
                }
            )
    seconds = seconds_before + time.perf_counter() - start

    test_accuracy = {
        d: accuracy(_DomainView(model, d), to_tensor(datasets[d].x_test), torch.from_numpy(datasets[d].y_test))
        for d in domains
    }
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
        "test_images": {d: int(len(datasets[d].y_test)) for d in domains},
    }
    if variant == "shared":
        merged_x = np.concatenate([datasets[d].x_test for d in domains])
        offsets = np.cumsum([0] + [datasets[d].num_classes for d in domains[:-1]])
        merged_y = np.concatenate([datasets[d].y_test + o for d, o in zip(domains, offsets)])
        resnet, _ = export_shared(model)
        resnet = resnet.to(device)
        metrics["union_source_test_accuracy"] = accuracy(resnet, to_tensor(merged_x), torch.from_numpy(merged_y))
    model.eval()
    log.info(
        "%s: %d steps in %.1f s; source test accuracy %s",
        description,
        schedule.steps,
        seconds,
        ", ".join(f"{d} {a:.4f}" for d, a in test_accuracy.items()),
    )
    return model, metrics


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
        "test_images": test_images,
        "variant": variant,
        "images_per_domain": metrics["images_per_domain"],
        "domain_source_test_accuracy": dict(metrics["source_test_accuracy"]),
    }

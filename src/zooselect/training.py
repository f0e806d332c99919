"""One SGD loop with two uses: training an expert and fine-tuning it on a target.

The loop follows the paper's protocol: SGD with Nesterov momentum 0.9,
weight decay, and step decay x0.1 at fixed fractions of the run. Batches
come from a seeded stream of permutations, so a run is reproducible from
its seed (on a fixed number of threads).
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from .data import standardize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    """How long and how fast to train. ``milestones`` are fractions of ``steps``."""

    steps: int
    batch_size: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 5e-4
    milestones: tuple[float, ...] = (0.5, 0.75)
    augment: bool = True
    max_shift: int = 2

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"a schedule needs steps >= 1, batch_size >= 1, lr > 0: {self}")


class NesterovSGD:
    """SGD with (Nesterov) momentum and L2 weight decay, the update of ``torch.optim.SGD``.

    For each parameter p with gradient g: d = g + weight_decay * p;
    buf = d on the first step, else momentum * buf + d; p -= lr * (d + momentum * buf)
    with Nesterov momentum (lr * buf without). A test checks it step for step
    against ``torch.optim.SGD``. It is written out because constructing any
    ``torch.optim`` optimizer imports ``torch._dynamo`` (1.7 s on an idle
    2-core machine, 3-4 s under load), paid again by each of the workflow's
    short fine-tuning and training jobs.
    """

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        nesterov: bool = True,
    ) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.nesterov = nesterov and momentum > 0
        self.buffers: list[torch.Tensor] | None = None

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        params = [p for p in self.params if p.grad is not None]
        grads = [p.grad for p in params]
        if self.weight_decay:
            grads = torch._foreach_add(grads, params, alpha=self.weight_decay)
        if self.momentum:
            if self.buffers is None:
                self.buffers = [g.clone() for g in grads]
            else:
                torch._foreach_mul_(self.buffers, self.momentum)
                torch._foreach_add_(self.buffers, grads)
            if self.nesterov:
                grads = torch._foreach_add(grads, self.buffers, alpha=self.momentum)
            else:
                grads = self.buffers
        torch._foreach_add_(params, grads, alpha=-self.lr)


def step_decay(schedule: "Schedule", step: int) -> float:
    """The learning rate at ``step``: x0.1 at each milestone fraction passed."""
    passed = sum(step >= int(round(f * schedule.steps)) for f in schedule.milestones)
    return schedule.lr * 0.1**passed


@dataclass
class TrainResult:
    steps: int
    seconds: float
    final_loss: float
    losses: list[float] = field(default_factory=list)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) images -> standardised float (N, 3, H, W), channels-last."""
    return torch.from_numpy(standardize(images)).contiguous(memory_format=torch.channels_last)


def epochs_to_steps(epochs: int, num_images: int, batch_size: int) -> int:
    """Steps that make ``epochs`` passes over ``num_images`` at ``batch_size``."""
    return max(1, epochs * math.ceil(num_images / min(batch_size, num_images)))


def schedule_from_config(config: dict, num_images: int) -> Schedule:
    """A Schedule from a config's schedule section, which gives ``steps`` or ``epochs``.

    ``epochs`` are passes over ``num_images`` (the training images the job
    actually has), converted with ``epochs_to_steps``.
    """
    options = dict(config)
    epochs = options.pop("epochs", None)
    if epochs is not None:
        if "steps" in options:
            raise ValueError(f"a schedule gives steps or epochs, not both: {config}")
        options["steps"] = epochs_to_steps(epochs, num_images, options["batch_size"])
    if "milestones" in options:
        options["milestones"] = tuple(options["milestones"])
    return Schedule(**options)


def _batches(num_images: int, batch_size: int, steps: int, generator: torch.Generator):
    """Yield ``steps`` index batches from a stream of seeded permutations."""
    batch_size = min(batch_size, num_images)
    order = torch.randperm(num_images, generator=generator)
    position = 0
    for _ in range(steps):
        if position + batch_size > num_images:
            order = torch.cat([order[position:], torch.randperm(num_images, generator=generator)])
            position = 0
        yield order[position : position + batch_size]
        position += batch_size


def _random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate the whole batch by up to ``max_shift`` pixels (zero padding)."""
    if max_shift == 0:
        return x
    dx, dy = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=generator))
    padded = F.pad(x, (max_shift, max_shift, max_shift, max_shift))
    height, width = x.shape[-2:]
    return padded[..., max_shift + dy : max_shift + dy + height, max_shift + dx : max_shift + dx + width]


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    schedule: Schedule,
    seed: int,
    description: str = "train",
) -> TrainResult:
    """Train every parameter of ``model`` on (x, y) with SGD; return the loss history."""
    generator = torch.Generator().manual_seed(seed)
    model.train()
    optimizer = NesterovSGD(
        model.parameters(),
        lr=schedule.lr,
        momentum=schedule.momentum,
        weight_decay=schedule.weight_decay,
    )
    losses: list[float] = []
    start = time.perf_counter()
    progress = tqdm(
        _batches(len(x), schedule.batch_size, schedule.steps, generator),
        total=schedule.steps,
        desc=description,
        file=sys.stderr,
        mininterval=10,
        disable=False,
    )
    for step, index in enumerate(progress):
        optimizer.lr = step_decay(schedule, step)
        inputs = x[index]
        if schedule.augment:
            inputs = _random_shift(inputs, schedule.max_shift, generator)
        loss = F.cross_entropy(model(inputs), y[index])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{description}: loss became {loss.item()} (lr {schedule.lr} too high?)")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - start
    final_loss = float(np.mean(losses[-max(1, len(losses) // 20) :]))
    log.info("%s: %d steps in %.1f s, final loss %.4f", description, schedule.steps, seconds, final_loss)
    return TrainResult(steps=schedule.steps, seconds=seconds, final_loss=final_loss, losses=losses)


@torch.no_grad()
def forward_features(
    model: nn.Module, x: torch.Tensor, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features (N, D) and head softmax probabilities (N, C), in eval mode."""
    model.eval()
    features, probs = [], []
    for start in range(0, len(x), batch_size):
        feats = model.features(x[start : start + batch_size])
        features.append(feats.numpy())
        probs.append(torch.softmax(model.head(feats), dim=1).numpy())
    return np.concatenate(features), np.concatenate(probs)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model`` on (x, y), in eval mode."""
    _, probs = forward_features(model, x, batch_size)
    return float((probs.argmax(1) == y.numpy()).mean())


def finetune(
    pretrained: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    num_classes: int,
    schedule: Schedule,
    seed: int,
    description: str = "finetune",
) -> dict[str, float]:
    """Fine-tune all layers of a copy of ``pretrained`` with a new ``num_classes`` head.

    Returns the final-step test accuracy (the test set is never used to pick
    an epoch) and the seconds spent training and testing.
    """
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = copy.deepcopy(pretrained)
    model.head = nn.Linear(model.feature_dim, num_classes)
    result = train(model, x_train, y_train, schedule, seed, description)
    test_accuracy = accuracy(model, x_test, y_test)
    return {
        "test_accuracy": test_accuracy,
        "train_loss": result.final_loss,
        "seconds": time.perf_counter() - start,
    }

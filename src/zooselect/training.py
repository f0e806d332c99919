"""One SGD loop with two uses: training an expert and fine-tuning it on a target.

The loop follows the paper's protocol: SGD with Nesterov momentum 0.9,
weight decay, and step decay x0.1 at fixed fractions of the run. Batches
come from a seeded stream of permutations, so a run is reproducible from
its seed (on a fixed number of threads).

The loop runs on the device of the model it is given (the job's leased GPU,
or the CPU); data move there, results come back as CPU arrays. A long run
can save its whole state every so many steps (``Resume``): a run that was
killed continues from its last saved step and ends with exactly the weights
an uninterrupted run would have.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    def state_dict(self) -> dict[str, Any]:
        """The momentum buffers (CPU copies), for a resume checkpoint."""
        return {"buffers": None if self.buffers is None else [b.detach().cpu().clone() for b in self.buffers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        buffers = state["buffers"]
        if buffers is None:
            self.buffers = None
            return
        if len(buffers) != len(self.params):
            raise ValueError(f"momentum state for {len(buffers)} parameters, optimiser has {len(self.params)}")
        self.buffers = [b.to(p.device) for b, p in zip(buffers, self.params)]


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
    seconds_before: float = 0.0  # spent by the interrupted runs this one resumed


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


class BatchStream:
    """Index batches from a stream of seeded permutations, resumable at any step.

    A batch that would run past the end of the current permutation takes
    what is left of it and continues into the next one.
    """

    def __init__(self, num_images: int, batch_size: int, generator: torch.Generator) -> None:
        self.num_images = num_images
        self.batch_size = min(batch_size, num_images)
        self.generator = generator
        self.order = torch.randperm(num_images, generator=generator)
        self.position = 0

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > self.num_images:
            fresh = torch.randperm(self.num_images, generator=self.generator)
            self.order = torch.cat([self.order[self.position :], fresh])
            self.position = 0
        batch = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"order": self.order.clone(), "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order, self.position = state["order"].clone(), int(state["position"])


CHECKPOINT_EVERY_ENV = "ZOOSELECT_CHECKPOINT_EVERY"
CHECKPOINT_SECONDS_ENV = "ZOOSELECT_CHECKPOINT_SECONDS"


def checkpoint_every(steps_per_epoch: int) -> int:
    """Steps between resume checkpoints: one epoch, unless ZOOSELECT_CHECKPOINT_EVERY gives a number of steps."""
    value = os.environ.get(CHECKPOINT_EVERY_ENV, "").strip()
    if not value or value == "epoch":
        return max(1, steps_per_epoch)
    try:
        every = int(value)
    except ValueError:
        raise ValueError(f"{CHECKPOINT_EVERY_ENV} must be 'epoch' or a number of steps, got {value!r}") from None
    if every < 1:
        raise ValueError(f"{CHECKPOINT_EVERY_ENV} must be at least 1, got {every}")
    return every


def checkpoint_seconds() -> float:
    """Least seconds between two resume checkpoints (ZOOSELECT_CHECKPOINT_SECONDS, default 60).

    A run shorter than this never writes one: the workflow's many short
    fine-tuning runs would pay for saves they cannot use, and losing under a
    minute of work costs less.
    """
    value = os.environ.get(CHECKPOINT_SECONDS_ENV, "").strip()
    try:
        seconds = float(value) if value else 60.0
    except ValueError:
        raise ValueError(f"{CHECKPOINT_SECONDS_ENV} must be a number of seconds, got {value!r}") from None
    return max(0.0, seconds)


def fingerprint(*parts: Any) -> str:
    """A digest of what a run's state depends on, so a saved state is only resumed by the same run.

    Tensors contribute their shape and a strided sample of at most about
    4096 of their numbers (every weight of a model changes when its
    initialisation does, so a sample tells runs apart at a cost that does
    not grow with the model), dicts their sorted items (a state dict),
    anything else its ``repr``.
    """
    digest = hashlib.blake2b(digest_size=16)

    def feed(part: Any) -> None:
        if isinstance(part, torch.Tensor):
            tensor = part.detach()
            if tensor.dim() > 0 and len(tensor) > 64:
                tensor = tensor[:: len(tensor) // 64]
            tensor = tensor.reshape(-1)
            tensor = tensor[:: max(1, len(tensor) // 4096)]
            digest.update(repr((tuple(part.shape), str(part.dtype))).encode())
            digest.update(tensor.cpu().contiguous().numpy().tobytes())
        elif isinstance(part, dict):
            for key in sorted(part, key=str):
                digest.update(repr(key).encode())
                feed(part[key])
        elif isinstance(part, (list, tuple)):
            digest.update(f"{type(part).__name__}{len(part)}".encode())
            for item in part:
                feed(item)
        else:
            digest.update(repr(part).encode())

    for part in parts:
        feed(part)
    return digest.hexdigest()


@dataclass
class Resume:
    """Where a run saves its state, and every how many steps.

    The file lives outside the job's declared outputs (``results/resume/...``),
    so Snakemake neither removes it after a failure nor takes it for a
    result; the job removes it (``clear``) once its outputs are written.
    """

    path: Path
    every: int
    min_seconds: float = field(default_factory=checkpoint_seconds)
    _last: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if self.every < 1:
            raise ValueError(f"resume checkpoints need every >= 1 step, got {self.every}")
        self.started()

    def started(self) -> None:
        """Start counting ``min_seconds`` (the loop calls it when it starts)."""
        self._last = time.monotonic()

    def due(self, steps_done: int, total_steps: int) -> bool:
        """Save now? At every ``every`` steps and after the last, once ``min_seconds`` passed since the last save."""
        boundary = steps_done % self.every == 0 or steps_done == total_steps
        return boundary and time.monotonic() - self._last >= self.min_seconds

    def load(self, key: str) -> dict[str, Any] | None:
        """The saved state when it exists and belongs to this run (same fingerprint), else None."""
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # a state we cannot read is only lost time: start over
            log.warning("ignoring unreadable resume state %s (%s); starting over", self.path, error)
            return None
        if not isinstance(state, dict) or state.get("fingerprint") != key:
            log.warning("ignoring resume state %s: it belongs to another run (config or inputs changed)", self.path)
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Write atomically: a kill while saving leaves the previous state intact."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)
        self._last = time.monotonic()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
        self.path.with_name(self.path.name + ".tmp").unlink(missing_ok=True)


def device_of(model: nn.Module) -> torch.device:
    """The device a model's parameters are on (the CPU for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def rng_state(device: torch.device) -> dict[str, Any]:
    """torch's global random state (dropout draws from it), for a resume checkpoint."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu().clone() for key, value in module.state_dict().items()}


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
    resume: Resume | None = None,
) -> TrainResult:
    """Train every parameter of ``model`` on (x, y) with SGD; return the loss history.

    Runs on ``model``'s device. With ``resume``, the whole state (weights,
    momentum, the batch stream, the random generators, the losses so far)
    is saved every ``resume.every`` steps and after the last one, and a run
    whose state is found continues from it: the result is the same as
    without the interruption.
    """
    device = device_of(model)
    x, y = x.to(device), y.to(device)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    optimizer = NesterovSGD(
        model.parameters(),
        lr=schedule.lr,
        momentum=schedule.momentum,
        weight_decay=schedule.weight_decay,
    )
    stream = BatchStream(len(x), schedule.batch_size, generator)
    losses: list[float] = []
    first_step, seconds_before = 0, 0.0
    if resume is not None:
        key = fingerprint(schedule, seed, x, y, model.state_dict())
        state = resume.load(key)
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            stream.load_state_dict(state["stream"])
            generator.set_state(state["generator"])
            set_rng_state(state["rng"], device)
            losses = list(state["losses"])
            first_step, seconds_before = int(state["step"]), float(state["seconds"])
            log.info("%s: resuming from step %d of %d (%s)", description, first_step, schedule.steps, resume.path)
        resume.started()
    start = time.perf_counter()
    progress = tqdm(
        range(first_step, schedule.steps),
        initial=first_step,
        total=schedule.steps,
        desc=description,
        file=sys.stderr,
        mininterval=10,
        disable=False,
    )
    for step in progress:
        index = stream.next()
        optimizer.lr = step_decay(schedule, step)
        inputs = x[index.to(device)]
        if schedule.augment:
            inputs = _random_shift(inputs, schedule.max_shift, generator)
        loss = F.cross_entropy(model(inputs), y[index.to(device)])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{description}: loss became {loss.item()} (lr {schedule.lr} too high?)")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if resume is not None and resume.due(step + 1, schedule.steps):
            resume.save(
                {
                    "fingerprint": key,
                    "step": step + 1,
                    "model": cpu_state(model),
                    "optimizer": optimizer.state_dict(),
                    "stream": stream.state_dict(),
                    "generator": generator.get_state(),
                    "rng": rng_state(device),
                    "losses": losses,
                    "seconds": seconds_before + time.perf_counter() - start,
                }
            )
    seconds = seconds_before + time.perf_counter() - start
    final_loss = float(np.mean(losses[-max(1, len(losses) // 20) :]))
    log.info("%s: %d steps in %.1f s, final loss %.4f", description, schedule.steps, seconds, final_loss)
    return TrainResult(schedule.steps, seconds, final_loss, losses, seconds_before)


@torch.no_grad()
def forward_features(
    model: nn.Module, x: torch.Tensor, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features (N, D) and head softmax probabilities (N, C), in eval mode.

    Batches of ``x`` move to ``model``'s device; the arrays come back on the CPU.
    """
    model.eval()
    device = device_of(model)
    features, probs = [], []
    for start in range(0, len(x), batch_size):
        feats = model.features(x[start : start + batch_size].to(device))
        features.append(feats.cpu().numpy())
        probs.append(torch.softmax(model.head(feats), dim=1).cpu().numpy())
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
    resume: Resume | None = None,
) -> dict[str, float]:
    """Fine-tune all layers of a copy of ``pretrained`` with a new ``num_classes`` head.

    Runs on ``pretrained``'s device. Returns the final-step test accuracy
    (the test set is never used to pick an epoch) and the seconds spent
    training and testing.
    """
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = copy.deepcopy(pretrained)
    model.head = nn.Linear(model.feature_dim, num_classes).to(device_of(pretrained))
    result = train(model, x_train, y_train, schedule, seed, description, resume)
    test_accuracy = accuracy(model, x_test, y_test)
    return {
        "test_accuracy": test_accuracy,
        "train_loss": result.final_loss,
        "seconds": result.seconds_before + time.perf_counter() - start,
    }

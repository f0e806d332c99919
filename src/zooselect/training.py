"""One SGD loop for every training in the project: experts, multi-domain experts, fine-tuning, probes.

The loop follows the paper's protocol: ``torch.optim.SGD`` with Nesterov
momentum 0.9 and weight decay, and a step decay x0.1 at fixed fractions of
the run (``torch.optim.lr_scheduler.MultiStepLR``). Images stream from an
:class:`~zooselect.data.stream.ImageSource` through a DataLoader
(:func:`zooselect.data.stream.batches`), prepared by the expert's
:class:`~zooselect.models.inputs.InputSpec`: images from files get the
augmentation of the expert's kind (``InputSpec.train_geometry``: a random
resized crop and flip, or a small shift for the benchmark's own experts, each
image under its own seed), the embedded 32-px arrays a random shift of the batch.

Batch k of a run is a function of the seed and k alone (:class:`SamplePlan`,
:class:`DomainPlan`), so a run is reproducible from its seed (on a fixed
number of threads) and a killed run continues from its last saved step
(``Resume``) and ends with exactly the weights an uninterrupted run would have.

The loop runs on the device of the model it is given (the job's leased GPU,
or the CPU); on CUDA under bf16 autocast.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from .data.stream import Images, batches
from .devices import autocast, device_of
from .extraction import predict
from .models.inputs import BENCHMARK_INPUT, InputSpec
from .options import env_int
from .progress import show_progress

FINETUNE_CSV_COLUMNS = ["expert", "lr", "test_accuracy", "seconds", "train_loss"]
"""A fine-tune CSV's columns: the expert, the learning rate, and what ``finetune`` returns."""

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


@dataclass
class TrainResult:
    steps: int
    seconds: float
    final_loss: float
    losses: list[float] = field(default_factory=list)
    seconds_before: float = 0.0  # spent by the interrupted runs this one resumed


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


def _permutation(seed: int, size: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, 0x5EED_BA7C, epoch]).permutation(size)


class SamplePlan:
    """The images of each step: an endless stream of seeded permutations, cut into batches.

    Step k takes positions ``k·B … k·B + B − 1`` of the stream (permutation
    e covers positions ``e·N … e·N + N − 1``), so a batch that runs past the
    end of one permutation continues into the next, and any step's batch is
    known without replaying the ones before it.
    """

    def __init__(self, size: int, batch_size: int, seed: int) -> None:
        if size < 1:
            raise ValueError("cannot train on an empty set of images")
        self.size, self.batch_size, self.seed = size, min(batch_size, size), seed
        self._epochs: dict[int, np.ndarray] = {}

    def steps_per_epoch(self) -> int:
        return math.ceil(self.size / self.batch_size)

    def batch(self, step: int) -> tuple[int, np.ndarray]:
        """(source 0, positions in the training set) of step ``step``."""
        positions = np.arange(step * self.batch_size, (step + 1) * self.batch_size)
        epochs, offsets = np.divmod(positions, self.size)
        out = np.empty(len(positions), np.int64)
        for epoch in np.unique(epochs).tolist():
            if epoch not in self._epochs:
                self._epochs = {e: p for e, p in self._epochs.items() if e >= epoch - 1}
                self._epochs[epoch] = _permutation(self.seed, self.size, epoch)
            out[epochs == epoch] = self._epochs[epoch][offsets[epochs == epoch]]
        return 0, out


class _StepSampler:
    """The DataLoader's batch sampler: steps ``first … last − 1`` of a plan as lists of items.

    Each item is (source, index in the source, seed of its random transform);
    the seed depends on the run's seed, the step and the place in the batch.
    """

    def __init__(self, plan, index_maps: Sequence[np.ndarray], first: int, last: int, seed: int) -> None:
        self.plan, self.index_maps, self.first, self.last, self.seed = plan, index_maps, first, last, seed

    def __len__(self) -> int:
        return max(0, self.last - self.first)

    def __iter__(self):
        for step in range(self.first, self.last):
            source, positions = self.plan.batch(step)
            indices = self.index_maps[source][positions]
            yield [(source, int(i), item_seed(self.seed, step, j)) for j, i in enumerate(indices.tolist())]


def item_seed(seed: int, step: int, place: int) -> int:
    """The seed of one image's random transform (Python's hash of ints is the same in every process)."""
    return hash((seed, step, place)) & 0x7FFF_FFFF


CHECKPOINT_EVERY_ENV = "ZOOSELECT_CHECKPOINT_EVERY"
CHECKPOINT_SECONDS_ENV = "ZOOSELECT_CHECKPOINT_SECONDS"


def checkpoint_every(steps_per_epoch: int) -> int:
    """Steps between resume checkpoints: one epoch, unless ZOOSELECT_CHECKPOINT_EVERY gives a number of steps."""
    value = os.environ.get(CHECKPOINT_EVERY_ENV, "").strip()
    if not value or value == "epoch":
        return max(1, steps_per_epoch)
    return env_int(CHECKPOINT_EVERY_ENV, value, 1, "'epoch' or a number of steps")


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
        from .io import BadFileError
        from .models.checkpoint import read_tensor_file

        try:
            state = read_tensor_file(self.path)
        except BadFileError as error:  # a state we cannot read is only lost time: start over
            log.warning("ignoring unreadable resume state %s (%s); starting over", self.path, error.problem)
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


def _optimiser(model: nn.Module, schedule: Schedule) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.MultiStepLR]:
    """SGD with Nesterov momentum over every trainable parameter, and its step decay.

    A parameter left out of a step's forward pass (another domain's batch
    norm or head) has no gradient, and ``torch.optim.SGD`` then leaves it and
    its momentum alone: one optimiser serves the multi-domain expert too.
    """
    optimiser = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad],
        lr=schedule.lr,
        momentum=schedule.momentum,
        weight_decay=schedule.weight_decay,
        nesterov=schedule.momentum > 0,
    )
    milestones = sorted({int(round(f * schedule.steps)) for f in schedule.milestones})
    return optimiser, torch.optim.lr_scheduler.MultiStepLR(optimiser, milestones, gamma=0.1)


def train(
    model: nn.Module,
    images: Images | Sequence[Images],
    schedule: Schedule,
    seed: int,
    description: str = "train",
    resume: Resume | None = None,
    spec: InputSpec = BENCHMARK_INPUT,
    workers: int = 0,
    plan: Any = None,
    domains: Sequence[str] | None = None,
) -> TrainResult:
    """Train every parameter of ``model`` on ``images`` with SGD; return the loss history.

    ``images`` is one set of images, or one per domain with ``domains`` (the
    model is then called as ``model(x, domain)``) and a ``plan`` that says
    which domain and images each step takes (default: a :class:`SamplePlan`
    over the one set). Runs on ``model``'s device with ``workers`` loader
    processes. With ``resume``, the whole state (weights, momentum, the
    learning-rate schedule, the random generators, the losses so far) is
    saved every ``resume.every`` steps and after the last one, and a run
    whose state is found continues from it: the result is the same as
    without the interruption.
    """
    sets = [images] if isinstance(images, Images) else list(images)
    if plan is None:
        if len(sets) != 1:
            raise ValueError("training on several sets of images needs a plan")
        plan = SamplePlan(len(sets[0]), schedule.batch_size, seed)
    device = device_of(model)
    model.train()
    optimiser, scheduler = _optimiser(model, schedule)
    packed = all(s.source.packed for s in sets)
    augment = schedule.augment and not packed
    transform, finish = spec.loading(packed, augment)
    shift = schedule.max_shift if schedule.augment and packed else 0  # the embedded 32-px images
    losses: list[float] = []
    first_step, seconds_before = 0, 0.0
    if resume is not None:
        key = fingerprint(schedule, seed, spec, [s.fingerprint() for s in sets], list(domains or []), model.state_dict())
        state = resume.load(key)
        if state is not None:
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            set_rng_state(state["rng"], device)
            losses = list(state["losses"])
            first_step, seconds_before = int(state["step"]), float(state["seconds"])
            log.info("%s: resuming from step %d of %d (%s)", description, first_step, schedule.steps, resume.path)
        resume.started()
    sampler = _StepSampler(plan, [s.indices for s in sets], first_step, schedule.steps, seed)
    stream = batches([s.source for s in sets], sampler, transform, device, workers, random=augment, finish=finish)
    start = time.perf_counter()
    progress = tqdm(
        range(first_step, schedule.steps),
        initial=first_step,
        total=schedule.steps,
        desc=description,
        file=sys.stderr,
        mininterval=10,
        disable=not show_progress(),
    )
    for step, (inputs, labels, source) in zip(progress, stream):
        if shift:
            inputs = _random_shift(inputs, shift, torch.Generator().manual_seed(item_seed(seed, step, -1)))
        with autocast(device):
            logits = model(inputs) if domains is None else model(inputs, domains[source])
        loss = F.cross_entropy(logits.float(), labels)
        if not torch.isfinite(loss):
            where = "" if domains is None else f" on domain '{domains[source]}'"
            raise FloatingPointError(f"{description}: loss became {loss.item()}{where} (lr {schedule.lr} too high?)")
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        scheduler.step()
        losses.append(loss.item())
        if resume is not None and resume.due(step + 1, schedule.steps):
            resume.save(
                {
                    "fingerprint": key,
                    "step": step + 1,
                    "model": cpu_state(model),
                    "optimizer": optimiser.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": rng_state(device),
                    "losses": losses,
                    "seconds": seconds_before + time.perf_counter() - start,
                }
            )
    seconds = seconds_before + time.perf_counter() - start
    final_loss = float(np.mean(losses[-max(1, len(losses) // 20) :]))
    log.info("%s: %d steps in %.1f s, final loss %.4f", description, schedule.steps, seconds, final_loss)
    return TrainResult(schedule.steps, seconds, final_loss, losses, seconds_before)


def accuracy(
    model: nn.Module, images: Images, spec: InputSpec = BENCHMARK_INPUT, workers: int = 0, view: Any = None
) -> float:
    """Top-1 accuracy of ``model`` (or of ``view``, a module with ``features`` and ``head``) on ``images``."""
    _, probs = predict(view if view is not None else model, images, spec, workers)
    return float((probs.argmax(1) == images.labels).mean())


def finetune(
    pretrained: nn.Module,
    train_images: Images,
    test_images: Images,
    num_classes: int,
    schedule: Schedule,
    seed: int,
    description: str = "finetune",
    resume: Resume | None = None,
    spec: InputSpec = BENCHMARK_INPUT,
    workers: int = 0,
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
    result = train(model, train_images, schedule, seed, description, resume, spec=spec, workers=workers)
    test_accuracy = accuracy(model, test_images, spec, workers)
    return {
        "test_accuracy": test_accuracy,
        "train_loss": result.final_loss,
        "seconds": result.seconds_before + time.perf_counter() - start,
    }

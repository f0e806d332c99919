"""How a target's images become one expert's input: its own size and normalisation.

Datasets hand out uint8 RGB images of any size (:mod:`zooselect.data.stream`).
Every expert wants them prepared the way it was trained: torchvision's and
timm's pre-trained models resize, centre-crop and normalise with their
weights' mean and standard deviation; the benchmark's own experts take
images (32x32 on the embedded data) standardised per image. An
:class:`InputSpec` records which; ``eval_transform`` (extraction and
testing) and ``train_transform`` (training and fine-tuning at real
resolution) are the ``torchvision.transforms.v2`` pipelines that apply it.

It never reads files or builds models.
"""

from __future__ import annotations

from dataclasses import dataclass

from collections.abc import Callable

import torch
from torchvision.transforms import v2

INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


@dataclass(frozen=True)
class InputSpec:
    """Resize the image's shorter side to ``resize`` pixels, crop the central ``size``, then normalise.

    ``mean``/``std`` (per RGB channel, on the 0..1 scale) normalise as
    torchvision's and timm's transforms do; without them (None) each image
    is standardised by its own mean and standard deviation, as the
    benchmark's experts were trained.
    """

    size: int
    resize: int
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if self.size < 1 or self.resize < self.size:
            raise ValueError(f"an input needs 1 <= size <= resize, got size {self.size}, resize {self.resize}")
        if (self.mean is None) != (self.std is None):
            raise ValueError("give both mean and std, or neither (per-image standardisation)")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None:
                if len(value) != 3:
                    raise ValueError(f"{name} needs 3 values (R, G, B), got {value!r}")
                object.__setattr__(self, name, tuple(float(v) for v in value))
        if self.std is not None and min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"unknown interpolation {self.interpolation!r}; valid: {', '.join(INTERPOLATIONS)}"
            )

    @property
    def standardized(self) -> bool:
        return self.mean is None

    def describe(self) -> str:
        how = "per-image standardisation" if self.standardized else f"mean {self.mean}, std {self.std}"
        return f"resize {self.resize}, crop {self.size}, {self.interpolation}, {how}"

    def eval_geometry(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """uint8 (3, H, W) or (N, 3, H, W) -> uint8 (…, 3, size, size): resize the shorter side to
        ``resize``, crop the centre (``torchvision.transforms.v2``)."""
        return v2.Compose([ResizeShorter(self.resize, self.interpolation), v2.CenterCrop(self.size)])

    def train_geometry(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The augmentation this kind of expert is trained with, on uint8 (random: run it under a
        seeded generator).

        Experts normalised by a mean and std (torchvision's, timm's): the standard random
        resized crop and horizontal flip. The benchmark's per-image-standardised experts: the
        eval geometry, then a random shift of up to ``size // 16`` pixels each way (2 at 32
        pixels, edge padding), as their training shifts the embedded arrays, and no flip:
        a random resized crop keeps as little as 8 % of a 32-pixel digit, and mirrored
        glyphs are other glyphs.
        """
        if self.standardized:
            shift = max(1, self.size // 16)
            return v2.Compose([self.eval_geometry(), v2.RandomCrop(self.size, padding=shift, padding_mode="edge")])
        return v2.Compose(
            [
                v2.RandomResizedCrop(self.size, interpolation=_INTERPOLATION[self.interpolation], antialias=True),
                v2.RandomHorizontalFlip(),
            ]
        )

    def normalise(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """uint8 -> float on the 0..1 scale, normalised by mean/std or per image."""
        return Normalise(self.mean, self.std)

    def eval_transform(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """Extraction and testing: ``eval_geometry`` then ``normalise``."""
        return v2.Compose([self.eval_geometry(), self.normalise()])

    def train_transform(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """Training at real resolution: ``train_geometry`` then ``normalise``."""
        return v2.Compose([self.train_geometry(), self.normalise()])

    def loading(self, packed: bool, augment: bool = False) -> tuple[Callable, Callable | None]:
        """(per-image transform, per-batch finish) for :func:`zooselect.data.stream.batches`.

        Packed arrays are transformed whole in the job's process (no finish).
        Images from disk are resized and cropped (or augmented) as uint8 by
        the loader's workers, a quarter of the bytes of float images to ship
        to the job, which converts and normalises each batch on its device.
        """
        if packed:
            return (self.train_transform() if augment else self.eval_transform()), None
        return (self.train_geometry() if augment else self.eval_geometry()), self.normalise()


_INTERPOLATION = {
    "nearest": v2.InterpolationMode.NEAREST,
    "bilinear": v2.InterpolationMode.BILINEAR,
    "bicubic": v2.InterpolationMode.BICUBIC,
}

STD_FLOOR = 1.0 / 255.0
"""Smallest standard deviation per-image standardisation divides by (one grey level on the 0..1 scale)."""


def standardize_images(x: torch.Tensor) -> torch.Tensor:
    """Per-image standardisation of float images (…, 3, H, W) on the 0..1 scale.

    Each image's own mean over all pixels and channels is subtracted and the
    result divided by ``max(std, STD_FLOOR)``, so a constant image maps to
    zeros. Without this, the embedded experts on the glyph and shape sources
    stayed at chance (EMBEDDED.md).
    """
    dims = (-3, -2, -1)
    wide = x.double()  # float64 sums: a constant image's mean is then exactly its value
    mean = wide.mean(dim=dims, keepdim=True)
    std = wide.std(dim=dims, keepdim=True, correction=0)
    return ((x - mean.float()) / std.float().clamp_min(STD_FLOOR)).to(x.dtype)


class Normalise:
    """uint8 images (…, 3, H, W) -> float, normalised by ``mean``/``std`` (on the 0..1 scale) or,
    without them, each image by its own mean and std.

    What ``v2.ToDtype(float32, scale=True)`` then ``v2.Normalize`` compute
    (to float rounding), in one conversion and two in-place passes, on a
    batch made channels-last while it is still uint8: 1.6x faster on the
    CPU, where it runs in the job's own process once per batch.
    """

    def __init__(self, mean: tuple[float, ...] | None, std: tuple[float, ...] | None) -> None:
        self.standardized = mean is None
        if not self.standardized:
            mean_, std_ = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
            self.scale, self.shift = 1.0 / (255.0 * std_), mean_ / std_
        self._on: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.uint8:
            raise TypeError(f"expected uint8 images, got {x.dtype}")
        if x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.standardized:
            return standardize_images(x.float().div_(255.0))
        if x.device not in self._on:
            self._on[x.device] = (self.scale.to(x.device), self.shift.to(x.device))
        scale, shift = self._on[x.device]
        return x.float().mul_(scale).sub_(shift)


class ResizeShorter:
    """Resize so the shorter side is ``size`` (as ``v2.Resize(size)``), doing nothing when it already is."""

    def __init__(self, size: int, interpolation: str = "bilinear") -> None:
        self.size = size
        self.interpolation = _INTERPOLATION[interpolation]

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if min(image.shape[-2:]) == self.size:
            return image
        return v2.functional.resize(image, self.size, interpolation=self.interpolation, antialias=True)


def benchmark_input(size: int = 32) -> InputSpec:
    """The benchmark's own experts: ``size``-pixel images (shorter side resized, centre crop),
    each standardised by its own mean and std."""
    return InputSpec(size=size, resize=size)


BENCHMARK_INPUT = benchmark_input(32)
"""The benchmark's experts on the embedded data: 32x32 images, each standardised."""


def imagenet_input(resize: int = 256, size: int = 224, interpolation: str = "bilinear") -> InputSpec:
    """ImageNet's usual preparation (mean/std of ImageNet's training images)."""
    return InputSpec(size, resize, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), interpolation)

"""How a target's images become one expert's input: its own size and normalisation.

A :class:`~zooselect.data.Dataset` holds square uint8 RGB images. Every
expert wants them prepared the way it was trained: torchvision's and timm's
pre-trained models resize, centre-crop and normalise with their weights'
mean and standard deviation; the benchmark's own experts take 32x32 images
standardised per image (:func:`zooselect.data.standardize`). An
:class:`InputSpec` records which, and ``prepare`` applies it to a batch.

It never reads files or builds models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


@dataclass(frozen=True)
class InputSpec:
    """Resize the (square) image to ``resize`` pixels, crop the central ``size``, then normalise.

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

    def prepare(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W, 3) square images -> float32 (N, 3, size, size), channels-last."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
            raise ValueError(f"expected square RGB images (N, H, W, 3), got {images.shape}")
        if self.standardized and images.shape[1] == self.size == self.resize:
            from ..training import to_tensor  # the benchmark's own path, bit for bit

            return to_tensor(images)
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[-1] != self.resize:
            smooth = self.interpolation != "nearest"
            x = F.interpolate(
                x,
                size=(self.resize, self.resize),
                mode=self.interpolation,
                antialias=smooth,
                **({"align_corners": False} if smooth else {}),
            ).clamp_(0.0, 1.0)
        start = (self.resize - self.size) // 2
        x = x[..., start : start + self.size, start : start + self.size]
        if self.standardized:
            from ..data import standardize

            uint8 = (x * 255.0).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
            return torch.from_numpy(standardize(uint8)).contiguous(memory_format=torch.channels_last)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


BENCHMARK_INPUT = InputSpec(size=32, resize=32)
"""The benchmark's experts: 32x32 images, each standardised by its own mean and std."""


def imagenet_input(resize: int = 256, size: int = 224, interpolation: str = "bilinear") -> InputSpec:
    """ImageNet's usual preparation (mean/std of ImageNet's training images)."""
    return InputSpec(size, resize, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), interpolation)

"""A small CIFAR-style ResNet sized to train in seconds on one CPU core.

The stem has stride 2 (32x32 images are processed at 16x16): on this kind of
machine that made training 3.5x faster than a stride-1 stem, and the
embedded tasks do not need the full resolution.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet with three stages of ``blocks`` basic blocks (widths w, 2w, 4w).

    ``features(x)`` returns the penultimate representation (global average
    pool, dimension 4w); ``head`` is the classification layer.
    """

    def __init__(
        self,
        num_classes: int,
        width: int = 16,
        blocks: int = 1,
        stem_stride: int = 2,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        channels = width
        for stage, out_channels in enumerate((width, 2 * width, 4 * width)):
            for block in range(blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(channels, out_channels, stride))
                channels = out_channels
        self.body = nn.Sequential(*layers)
        self.feature_dim = channels
        self.head = nn.Linear(channels, num_classes)

    @property
    def last_conv(self) -> nn.Conv2d:
        """The last convolutional layer (LGC differentiates with respect to its weights)."""
        return self.body[-1].conv2

    def split_at_last_conv(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The last convolution's input, and what ``features_from_last_conv`` needs besides its output."""
        hidden = self.body[:-1](self.stem(x))
        block = self.body[-1]
        return F.relu(block.bn1(block.conv1(hidden))), (block.shortcut(hidden),)

    def features_from_last_conv(self, conv_out: torch.Tensor, context: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``features(x)`` resumed from the last convolution's output (see ``split_at_last_conv``)."""
        out = F.relu(self.body[-1].bn2(conv_out) + context[0])
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(self.stem(x))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

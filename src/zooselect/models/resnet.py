"""A small CIFAR-style ResNet sized to train in seconds on one CPU core.

The stem has stride 2 (32x32 images are processed at 16x16): on this kind of
machine that made training 3.5x faster than a stride-1 stem, and the
embedded tasks do not need the full resolution.

With ``adapters=True`` every 3x3 convolution (the stem's and both of each
block's) gets a *parallel residual adapter* (Rebuffi et al., CVPR 2018,
"Efficient parametrization of multi-domain deep neural networks"): a 1x1
convolution on the same input with the same stride whose output is added to
the 3x3 convolution's before its batch norm. It is how one domain of the
multi-domain expert's Adapter variant (``zooselect.models.multidomain_resnet``) is
exported as an ordinary ``resnet`` checkpoint. The option defaults to False,
which builds exactly the network (parameters, state-dict keys, random
initialisation) of checkpoints written before it existed.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _parallel(conv: nn.Conv2d, adapter: nn.Module | None, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)``, plus the parallel adapter's output where there is one.

    The adapter is a 1x1 convolution with the stride of ``conv``. It is
    stored with stride 1 and applied to the subsampled input
    ``x[..., ::s, ::s]``, which is the same thing: with torch 2.14 on the CPU
    the weight gradient of a *strided* 1x1 convolution on a channels-last
    input with few input channels and an odd batch size crashes the process
    (segmentation fault or abort; seen with 3 to 8 input channels, not with
    16 or more), and the stem's adapter has 3.
    """
    out = conv(x)
    if adapter is None:
        return out
    stride_h, stride_w = conv.stride
    if stride_h != 1 or stride_w != 1:
        x = x[:, :, ::stride_h, ::stride_w]
    return out + adapter(x)


class _Shortcut(nn.Sequential):
    """A 1x1 convolution with stride ``stride``, then batch norm (state-dict keys ``0.*``, ``1.*``).

    The convolution is stored with stride 1 and applied to the subsampled
    input ``x[..., ::stride, ::stride]``: the same numbers, bit for bit, and
    the same random initialisation, but it avoids a torch 2.14 CPU crash in
    the weight gradient of strided 1x1 convolutions on channels-last inputs
    with few input channels and an odd batch size (widths 4 and 8 crashed;
    see ``_parallel``).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return super().forward(x)


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, adapters: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = _Shortcut(in_channels, out_channels, stride)
        # Created after everything else, so that adapters=False draws the same
        # random initial weights as before the option existed.
        self.adapter1: nn.Module | None = None
        self.adapter2: nn.Module | None = None
        if adapters:
            # 1x1 adapters; they take conv1's and conv2's stride (see _parallel).
            self.adapter1 = nn.Conv2d(in_channels, out_channels, 1, bias=False)
            self.adapter2 = nn.Conv2d(out_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(_parallel(self.conv1, self.adapter1, x)))
        out = self.bn2(_parallel(self.conv2, self.adapter2, out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet with three stages of ``blocks`` basic blocks (widths w, 2w, 4w).

    ``features(x)`` returns the penultimate representation (global average
    pool, dimension 4w); ``head`` is the classification layer. ``adapters``
    adds a parallel 1x1 convolution to every 3x3 convolution (see the module
    docstring).
    """

    def __init__(
        self,
        num_classes: int,
        width: int = 16,
        blocks: int = 1,
        stem_stride: int = 2,
        in_channels: int = 3,
        adapters: bool = False,
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
                layers.append(BasicBlock(channels, out_channels, stride, adapters))
                channels = out_channels
        self.body = nn.Sequential(*layers)
        self.feature_dim = channels
        self.head = nn.Linear(channels, num_classes)
        self.stem_adapter: nn.Module | None = None
        if adapters:
            self.stem_adapter = nn.Conv2d(in_channels, width, 1, bias=False)  # stride: see _parallel

    @property
    def last_conv(self) -> nn.Conv2d:
        """The last convolutional layer (LGC differentiates with respect to its weights)."""
        return self.body[-1].conv2

    def split_at_last_conv(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The last convolution's input, and what ``features_from_last_conv`` needs besides its output."""
        hidden = self.body[:-1](self._stem(x))
        block = self.body[-1]
        conv_input = F.relu(block.bn1(_parallel(block.conv1, block.adapter1, hidden)))
        context: tuple[torch.Tensor, ...] = (block.shortcut(hidden),)
        if block.adapter2 is not None:
            # The parallel adapter reads the last convolution's input, not its
            # weights: its output is context, added to the convolution's output.
            context += (block.adapter2(conv_input),)
        return conv_input, context

    def features_from_last_conv(self, conv_out: torch.Tensor, context: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``features(x)`` resumed from the last convolution's output (see ``split_at_last_conv``).

        ``context`` is (shortcut output,) or, with adapters, (shortcut output,
        last adapter's output).
        """
        block = self.body[-1]
        if block.adapter2 is not None:
            conv_out = conv_out + context[1]
        out = F.relu(block.bn2(conv_out) + context[0])
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        if self.stem_adapter is None:
            return self.stem(x)
        conv, bn, relu = self.stem
        return relu(bn(_parallel(conv, self.stem_adapter, x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(self._stem(x))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

"""torchvision's ResNets and DenseNets as zoo architectures (the paper's ResNet-101 and DenseNet-169).

A wrapper holds the torchvision model as ``body`` with its classifier
(``fc`` / ``classifier``) replaced by ``nn.Identity``, so ``body(x)`` is the
penultimate feature, and the classifier as ``head``: the same layout as our
small models, so code that swaps the head (``model.head = nn.Linear(...)``)
or copies everything but ``head.*`` works unchanged. Inside ``body`` every
module keeps torchvision's name; ``load_state_dict`` also accepts a plain
torchvision state dict (``conv1.weight`` … ``fc.weight``), mapping its keys
to ours, and ``library_state_dict()`` maps ours back.

The LGC interface follows torchvision's own forward code: for ResNet the
last convolution is ``layer4[-1].conv3`` (Bottleneck) or ``.conv2``
(BasicBlock), and the context is the block's identity branch; for DenseNet
it is ``conv2`` of the last dense layer of ``denseblock4``, and the context
is that layer's input (the concatenated earlier features), which its output
joins before ``norm5``.

torchvision is imported only when one of these models is built (importing
it costs ~2 s, which every job importing ``zooselect.models`` would pay).
"""

from __future__ import annotations

import re
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F

from .library_model import LibraryModel, from_library_keys

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
DENSENETS = ("densenet121", "densenet161", "densenet169", "densenet201")

def resolve_weights(arch: str, weights: str | None) -> Any:
    """torchvision's weights enum member for ``weights`` ("IMAGENET1K_V1", "DEFAULT", or
    "ResNet101_Weights.IMAGENET1K_V1"), or None; a clear ValueError for a name it lacks."""
    if weights is None:
        return None
    from torchvision.models import get_model_weights

    enum = get_model_weights(arch)
    name = str(weights).removeprefix(enum.__name__ + ".")
    if name not in enum.__members__:
        raise ValueError(
            f"unknown weights '{weights}' for architecture '{arch}'; "
            f"valid weights: {', '.join(enum.__members__)} (or None for random initialisation)"
        )
    return enum[name]


def _accept_torchvision_keys(module, state_dict, prefix, *_) -> None:
    """Load-state-dict pre-hook: rename plain torchvision keys (``conv1.weight``, ``fc.bias``) to ours."""
    theirs = [k for k in state_dict if k.startswith(prefix) and not k[len(prefix) :].startswith(("body.", "head."))]
    renamed = from_library_keys({k[len(prefix) :]: state_dict.pop(k) for k in theirs}, module.classifier_name)
    state_dict.update({prefix + key: value for key, value in renamed.items()})


class TorchvisionModel(LibraryModel):
    """A torchvision classifier split into ``body`` (up to the global pool) and ``head``."""

    torchvision_head = ""  # torchvision's attribute name for the classifier

    def __init__(self, arch: str, num_classes: int, weights: str | None = None) -> None:
        from torchvision.models import get_model_builder

        resolved = resolve_weights(arch, weights)
        builder = get_model_builder(arch)
        # With weights, torchvision builds its own classifier size and loads every weight
        # (downloading them if they are not cached); a different num_classes gets a fresh head.
        net = builder(weights=None, num_classes=num_classes) if resolved is None else builder(weights=resolved)
        head = getattr(net, self.torchvision_head)
        setattr(net, self.torchvision_head, nn.Identity())
        super().__init__(arch, net, head, self.torchvision_head, num_classes)
        self.register_load_state_dict_pre_hook(_accept_torchvision_keys)


class TorchvisionResNet(TorchvisionModel):
    """torchvision's ResNet-18/34/50/101/152 (BasicBlock or Bottleneck)."""

    torchvision_head = "fc"

    @property
    def _last_block(self) -> nn.Module:
        return self.body.layer4[-1]

    @property
    def last_conv(self) -> nn.Conv2d:
        """The last convolutional layer (LGC differentiates with respect to its weights)."""
        block = self._last_block
        return block.conv3 if hasattr(block, "conv3") else block.conv2

    def split_at_last_conv(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The last convolution's input, and the last block's identity branch."""
        net, block = self.body, self._last_block
        hidden = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        hidden = net.layer4[:-1](net.layer3(net.layer2(net.layer1(hidden))))
        identity = hidden if block.downsample is None else block.downsample(hidden)
        out = F.relu(block.bn1(block.conv1(hidden)))
        if hasattr(block, "conv3"):  # Bottleneck: conv1 -> conv2 -> conv3
            out = F.relu(block.bn2(block.conv2(out)))
        return out, (identity,)

    def features_from_last_conv(self, conv_out: torch.Tensor, context: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``features(x)`` resumed from the last convolution's output (see ``split_at_last_conv``)."""
        block = self._last_block
        norm = block.bn3 if hasattr(block, "conv3") else block.bn2
        out = F.relu(norm(conv_out) + context[0])
        return torch.flatten(self.body.avgpool(out), 1)


class TorchvisionDenseNet(TorchvisionModel):
    """torchvision's DenseNet-121/161/169/201."""

    torchvision_head = "classifier"

    @property
    def _last_layer(self) -> nn.Module:
        return list(self.body.features.denseblock4.values())[-1]

    @property
    def last_conv(self) -> nn.Conv2d:
        """The last convolutional layer (LGC differentiates with respect to its weights)."""
        return self._last_layer.conv2

    def split_at_last_conv(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The last convolution's input, and the last dense layer's input (which its output joins)."""
        trunk = self.body.features
        hidden = x
        for name, module in trunk.named_children():
            if name == "denseblock4":
                break
            hidden = module(hidden)
        layers = list(trunk.denseblock4.values())
        collected = [hidden]
        for layer in layers[:-1]:
            collected.append(layer(collected))
        joined = torch.cat(collected, 1)
        last = layers[-1]
        bottleneck = last.conv1(F.relu(last.norm1(joined)))
        return F.relu(last.norm2(bottleneck)), (joined,)

    def features_from_last_conv(self, conv_out: torch.Tensor, context: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``features(x)`` resumed from the last convolution's output (see ``split_at_last_conv``)."""
        last = self._last_layer
        new = F.dropout(conv_out, p=float(last.drop_rate), training=self.training) if last.drop_rate > 0 else conv_out
        out = F.relu(self.body.features.norm5(torch.cat([context[0], new], 1)))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)


def _constructor(arch: str, cls: type[TorchvisionModel]) -> Callable[..., nn.Module]:
    def build(num_classes: int, weights: str | None = None) -> nn.Module:
        return cls(arch, num_classes, weights=weights)

    build.__name__ = build.__qualname__ = arch
    build.__doc__ = f"torchvision's {arch} (options: weights=None or a weights name such as 'DEFAULT')."
    return build


TORCHVISION_ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    **{arch: _constructor(arch, TorchvisionResNet) for arch in RESNETS},
    **{arch: _constructor(arch, TorchvisionDenseNet) for arch in DENSENETS},
}


def natural_key(name: str) -> list:
    """Sort key that puts resnet18 before resnet101."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]

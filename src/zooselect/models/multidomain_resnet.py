"""The paper's multi-domain expert: one ResNet trained on every source, with domain-specific parameters.

Three variants (Deshpande et al. 2021, after Rebuffi et al., CVPR 2018,
"Efficient parametrization of multi-domain deep neural networks"):

- ``shared``: every parameter is shared except one classification head per
  domain (the domains have different classes).
- ``multibn``: every BatchNorm2d is one batch norm per domain (running
  statistics, scale and bias); the convolutions are shared.
- ``adapter``: parallel residual adapters: every 3x3 convolution (the stem's
  and the blocks') has a per-domain 1x1 convolution on the same input with
  the same stride, added to its output, and batch norms are per domain as in
  Multi-BN; the 3x3 (and shortcut) convolutions are shared.

The network is our ``ResNet`` (``resnet.py``) with its batch norms and
adapters swapped for per-domain modules that all read one "active domain"
switch, so it computes exactly what the single-domain ``ResNet`` computes and
a forward pass costs one list lookup per layer, not a loop over domains.

Each zoo entry must be an ordinary ``resnet`` expert for the rest of the
workflow (caches, LGC gradients, fine-tuning, ``create_model``), so the
model exports: ``export_domain`` makes a plain ``ResNet`` (``adapters=True``
for the Adapter variant) holding one domain's parameters and head, and
``export_entries`` makes the zoo entries: ``{variant}-{domain}`` for
Multi-BN and Adapter, and a single ``shared-all`` for Shared (its domains
differ only in their heads, so one entry with the heads concatenated, classes
``{domain}/{class}`` as in ``experts.merge_sources``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..options import check_keyword_options, keyword_defaults
from ..zoo import MULTIDOMAIN_VARIANTS, SHARED_ENTRY, multidomain_entries
from .resnet import ResNet

# The names live in zooselect.zoo (importable without torch, for the workflow).
VARIANTS = MULTIDOMAIN_VARIANTS
entry_names = multidomain_entries


def check_variant(variant: str) -> str:
    """``variant`` if it is one of ``VARIANTS``, else a ValueError naming the valid ones."""
    multidomain_entries(variant, [])
    return variant


_NAME = re.compile(r"^[a-z0-9_]+$")


class _ActiveDomain:
    """The switch every per-domain module of one network reads: the index of the active domain."""

    __slots__ = ("index",)

    def __init__(self) -> None:
        self.index = 0


class _PerDomain(nn.Module):
    """One copy of a layer per domain (``members``); the active domain's copy runs.

    Every copy starts from the same values (a deep copy of ``template``), so
    at initialisation all domains compute the same function and they differ
    only through training.
    """

    def __init__(self, template: nn.Module, num_domains: int, active: _ActiveDomain) -> None:
        super().__init__()
        self.members = nn.ModuleList(copy.deepcopy(template) for _ in range(num_domains))
        self._active = active

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.members[self._active.index](x)


class DomainBatchNorm2d(_PerDomain):
    """A BatchNorm2d per domain: statistics, scale and bias of the active domain only."""


class DomainAdapter(_PerDomain):
    """A parallel residual adapter (1x1 convolution) per domain."""


def _make_domain_specific(module: nn.Module, adapters: bool, num_domains: int, active: _ActiveDomain) -> None:
    """Swap, in place, every BatchNorm2d (and adapter convolution) below ``module`` for a per-domain one."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, DomainBatchNorm2d(child, num_domains, active))
        elif adapters and isinstance(child, nn.Conv2d) and "adapter" in name:
            setattr(module, name, DomainAdapter(child, num_domains, active))
        else:
            _make_domain_specific(child, adapters, num_domains, active)


class MultiDomainResNet(nn.Module):
    """Our ResNet trained jointly on several domains, with the variant's domain-specific parameters.

    ``forward(x, domain)`` gives the logits of ``domain``'s head and
    ``features(x, domain)`` its penultimate features, both through that
    domain's parameters; ``domain`` is a name from ``domains``. The trunk
    options (``width``, ``blocks``, ``stem_stride``, ``in_channels``) are
    ``ResNet``'s.
    """

    def __init__(
        self,
        domains: Sequence[str],
        num_classes: Sequence[int],
        variant: str,
        width: int = 16,
        blocks: int = 1,
        stem_stride: int = 2,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        check_variant(variant)
        domains, num_classes = list(domains), [int(n) for n in num_classes]
        if not domains:
            raise ValueError("a multi-domain network needs at least one domain")
        if len(num_classes) != len(domains):
            raise ValueError(f"{len(domains)} domains {domains} but {len(num_classes)} class counts {num_classes}")
        bad = [d for d in domains if not isinstance(d, str) or not _NAME.match(d)]
        if bad:
            raise ValueError(f"domain names must use lowercase letters, digits and underscores only: {bad}")
        if len(set(domains)) != len(domains):
            raise ValueError(f"domain names repeat: {domains}")
        if min(num_classes) < 1:
            raise ValueError(f"every domain needs at least one class: {dict(zip(domains, num_classes))}")
        self.variant = variant
        self.domains = domains
        self.num_classes = num_classes
        self._index = {d: i for i, d in enumerate(domains)}
        self.options: dict[str, Any] = {
            "width": width,
            "blocks": blocks,
            "stem_stride": stem_stride,
            "in_channels": in_channels,
            "adapters": variant == "adapter",
        }
        self._active = _ActiveDomain()
        trunk = ResNet(num_classes=1, **self.options)
        trunk.head = nn.Identity()  # the heads are per domain, below
        if variant != "shared":
            _make_domain_specific(trunk, variant == "adapter", len(domains), self._active)
        self.trunk = trunk
        self.feature_dim = trunk.feature_dim
        self.heads = nn.ModuleList(nn.Linear(self.feature_dim, n) for n in num_classes)

    def domain_index(self, domain: str) -> int:
        """The position of ``domain`` in ``domains``; ValueError naming the valid ones if unknown."""
        try:
            return self._index[domain]
        except (KeyError, TypeError):
            raise ValueError(f"unknown domain {domain!r}; valid domains: {', '.join(self.domains)}") from None

    def select(self, domain: str) -> int:
        """Make ``domain`` the active domain of every per-domain layer; return its index."""
        index = self.domain_index(domain)
        self._active.index = index
        return index

    def features(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """Penultimate features of ``x`` through ``domain``'s parameters."""
        self.select(domain)
        return self.trunk.features(x)

    def forward(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """Logits of ``domain``'s head on ``x``, through ``domain``'s parameters."""
        index = self.select(domain)
        return self.heads[index](self.trunk.features(x))

    def domain_parameters(self, domain: str) -> list[nn.Parameter]:
        """The parameters only ``domain`` uses (its head, and its batch norms and adapters)."""
        index = self.domain_index(domain)
        params = list(self.heads[index].parameters())
        for module in self.trunk.modules():
            if isinstance(module, _PerDomain):
                params += list(module.members[index].parameters())
        return params

    def shared_parameters(self) -> list[nn.Parameter]:
        """The parameters every domain uses (all but the ``domain_parameters`` of each domain)."""
        specific = {id(p) for d in self.domains for p in self.domain_parameters(d)}
        return [p for p in self.parameters() if id(p) not in specific]


def check_trunk_options(options: Mapping[str, Any]) -> None:
    """Check the trunk options a config gives ``MultiDomainResNet`` (its ``ResNet`` options but
    ``adapters``, which the variant sets) without building it; ValueError naming the option."""
    check_keyword_options(options, keyword_defaults(MultiDomainResNet, skip=("domains", "num_classes", "variant")))


def _new_resnet(num_classes: int, options: dict[str, Any]) -> ResNet:
    """A ``ResNet`` whose weights are about to be overwritten (the global random state is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        return ResNet(num_classes, **options)


def _trunk_state(model: MultiDomainResNet, index: int) -> dict[str, torch.Tensor]:
    """The trunk's state dict with domain ``index``'s copy of every per-domain layer, keyed as in ``ResNet``."""
    state = {}
    for key, value in model.trunk.state_dict().items():
        if ".members." in key:
            prefix, rest = key.split(".members.", 1)
            member, leaf = rest.split(".", 1)
            if int(member) != index:
                continue
            key = f"{prefix}.{leaf}"
        state[key] = value
    return state


def export_domain(model: MultiDomainResNet, domain: str) -> tuple[ResNet, dict[str, Any]]:
    """``domain``'s network as a plain ``ResNet`` (eval mode), and its constructor options.

    The ResNet holds copies of the shared weights, ``domain``'s batch norms
    (parameters and running statistics) and adapters, and ``domain``'s head,
    so ``head(features(x))`` equals ``model(x, domain)``; save it with
    ``save_checkpoint(path, resnet, "resnet", options, classes, metrics)``.
    """
    index = model.domain_index(domain)
    state = _trunk_state(model, index)
    state.update({f"head.{k}": v for k, v in model.heads[index].state_dict().items()})
    options = dict(model.options)
    resnet = _new_resnet(model.num_classes[index], options)
    resnet.load_state_dict(state, strict=True)
    return resnet.eval(), options


def export_shared(model: MultiDomainResNet) -> tuple[ResNet, dict[str, Any]]:
    """The Shared variant as one ``ResNet`` whose head is every domain's head, concatenated in domain order.

    Its logits are the domains' logits side by side, so its source
    probabilities cover the union of the domains' classes (like the generic
    expert's). Only the Shared variant has one trunk for all domains.
    """
    if model.variant != "shared":
        raise ValueError(
            f"only the 'shared' variant has one network for all domains; "
            f"export the '{model.variant}' variant per domain (export_domain)"
        )
    state = _trunk_state(model, 0)
    state["head.weight"] = torch.cat([head.weight.detach() for head in model.heads])
    state["head.bias"] = torch.cat([head.bias.detach() for head in model.heads])
    options = dict(model.options)
    resnet = _new_resnet(sum(model.num_classes), options)
    resnet.load_state_dict(state, strict=True)
    return resnet.eval(), options


def export_entries(
    model: MultiDomainResNet, domain_classes: Mapping[str, Sequence[str]]
) -> dict[str, tuple[ResNet, dict[str, Any], list[str]]]:
    """The zoo entries of a trained multi-domain network: name -> (ResNet, options, classes).

    ``domain_classes`` gives each domain's class names (in label order).
    Multi-BN and Adapter give ``{variant}-{domain}`` per domain with that
    domain's classes; Shared gives ``shared-all`` with classes
    ``{domain}/{class}`` in domain order (see ``export_shared``).
    """
    if sorted(domain_classes) != sorted(model.domains):
        raise ValueError(
            f"classes given for domains {sorted(domain_classes)}, but the network's domains are {model.domains}"
        )
    for domain, count in zip(model.domains, model.num_classes):
        if len(domain_classes[domain]) != count:
            raise ValueError(
                f"domain '{domain}' has {count} classes in the network but {len(domain_classes[domain])} names"
            )
    if model.variant == "shared":
        resnet, options = export_shared(model)
        classes = [f"{d}/{c}" for d in model.domains for c in domain_classes[d]]
        return {SHARED_ENTRY: (resnet, options, classes)}
    entries = {}
    for name, domain in zip(entry_names(model.variant, model.domains), model.domains):
        resnet, options = export_domain(model, domain)
        entries[name] = (resnet, options, [str(c) for c in domain_classes[domain]])
    return entries

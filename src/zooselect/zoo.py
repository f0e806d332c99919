"""The zoo's names: which experts a config builds or is given, and how their names read.

A zoo entry is either trained by the workflow or given (``zoo.given``): a
torchvision or timm model with its weights, or a local checkpoint, written
in the zoo-entry format of ``zooselect rank``'s zoo file and parsed by the
same parser (:mod:`zooselect.userzoo`). Given entries skip the training
stage; everything after it treats all entries alike.

Up to three zoos, each judged separately (the first two as in the paper):

- the single-domain zoo: ``{arch}-{source}-{init}`` (``resnet-mnist-scratch``,
  ``resnet-mnist-generic``) and the generic expert of each architecture,
  ``{arch}-generic``, trained on the union of the sources (or on the sources
  the config names, e.g. only ImageNet in the paper's configuration);
- the multi-domain zoo: one ResNet trained on all sources at once, whose
  domain-specific parameters are each an entry, ``{variant}-{domain}``
  (``multibn-mnist``, ``adapter-mnist``); the ``shared`` variant has no
  domain-specific parameters but its heads, so it is one entry, ``shared-all``;
- the given zoo: the config's given entries, under the names the config
  gives them (``resnet50``, ``tv_resnet18``). They are judged among
  themselves, not mixed into the single-domain zoo, so adding hub models to
  a config leaves the verdict on the trained zoo as it was.

Names of architectures, sources and variants use lowercase letters, digits
and underscores only, so ``-`` joins them unambiguously.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
INITS = ("scratch", "generic")
SHARED_VARIANT = "shared"  # the multi-domain variant whose one entry is SHARED_ENTRY
MULTIDOMAIN_VARIANTS = (SHARED_VARIANT, "multibn", "adapter")
MULTIDOMAIN_ARCH = "resnet"  # the multi-domain expert is a ResNet (models.multidomain_resnet)
SHARED_ENTRY = "shared-all"
SINGLE_DOMAIN, MULTI_DOMAIN, GIVEN = "single_domain", "multi_domain", "given"
ZOOS = (SINGLE_DOMAIN, MULTI_DOMAIN, GIVEN)  # the zoos, in the order the summary lists them


@dataclass(frozen=True)
class Expert:
    """One zoo entry: its architecture, the sources it was trained on, its initialisation."""

    name: str
    arch: str
    sources: tuple[str, ...]
    init: str  # "scratch", "generic" (from the generic expert of its arch), "multidomain" or "given"
    zoo: str = SINGLE_DOMAIN  # which zoo it is judged in
    variant: str = ""  # the multi-domain variant, for multi-domain entries
    entry: Any = None  # a given entry's userzoo.ZooEntry (None for the workflow's own experts)

    @property
    def given(self) -> bool:
        return self.entry is not None


def generic_name(arch: str) -> str:
    return f"{arch}-generic"


def single_domain_name(arch: str, source: str, init: str) -> str:
    return f"{arch}-{source}-{init}"


def domain_entry_name(variant: str, source: str) -> str:
    """A multi-domain variant's entry for one domain (source), ``{variant}-{domain}``."""
    return f"{variant}-{source}"


def multidomain_entries(variant: str, sources: list[str]) -> list[str]:
    """The zoo entries a multi-domain variant produces, in source order."""
    if variant not in MULTIDOMAIN_VARIANTS:
        raise ValueError(
            f"unknown multi-domain variant '{variant}'; valid variants: {', '.join(MULTIDOMAIN_VARIANTS)}"
        )
    if variant == SHARED_VARIANT:
        return [SHARED_ENTRY]
    return [domain_entry_name(variant, source) for source in sources]


def check_name(kind: str, name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"{kind} name '{name}' must use lowercase letters, digits and underscores only "
            "(it becomes part of file names and expert names)"
        )


def build_zoo(
    archs: list[str],
    sources: list[str],
    inits: list[str],
    generic: bool = True,
    variants: list[str] = (),
    generic_sources: list[str] | None = None,
    given: list[Any] = (),
) -> dict[str, Expert]:
    """Every zoo entry by name, in a stable order: single-domain, multi-domain, then given.

    The generic expert trains on `generic_sources` (default: every source).
    When they name a single source (the paper's ImageNet expert), the generic
    expert *is* that source's expert, so no single-domain expert of that
    source is added. given: the given entries (``userzoo.ZooEntry``), in
    the zoo of that name; with no architectures, they are the whole zoo.
    """
    if archs and not sources:
        raise ValueError(
            "the experts the workflow trains (zoo.architectures) need at least one source dataset (sources)"
        )
    only_source = list(generic_sources) if generic_sources is not None and len(generic_sources) == 1 else None
    generic_sources = list(sources) if generic_sources is None else list(generic_sources)
    unknown = sorted(set(generic_sources) - set(sources))
    if archs and (unknown or not generic_sources):
        raise ValueError(
            f"generic_sources must be a non-empty list of sources; unknown: {', '.join(unknown)}"
        )
    for arch in archs:
        check_name("architecture", arch)
    for source in sources:
        check_name("source", source)
    for init in inits:
        if init not in INITS:
            raise ValueError(f"unknown init '{init}'; valid inits: {', '.join(INITS)}")
    if "generic" in inits and not generic:
        raise ValueError("init 'generic' needs the generic experts (zoo.generic: true)")
    zoo: dict[str, Expert] = {}
    for arch in archs:
        if generic:
            zoo[generic_name(arch)] = Expert(generic_name(arch), arch, tuple(generic_sources), "scratch")
        for source in sources:
            if generic and only_source == [source]:
                continue  # the generic expert is this source's expert
            for init in inits:
                name = single_domain_name(arch, source, init)
                zoo[name] = Expert(name, arch, (source,), init)
    if "all" in sources and variants:
        raise ValueError(f"a source named 'all' would clash with the multi-domain entry '{SHARED_ENTRY}'")
    for variant in variants:
        for name in multidomain_entries(variant, sources):
            domain_sources = tuple(sources) if name == SHARED_ENTRY else (name.split("-", 1)[1],)
            zoo[name] = Expert(name, MULTIDOMAIN_ARCH, domain_sources, "multidomain", MULTI_DOMAIN, variant)
    for entry in given:
        if entry.name in zoo:
            raise ValueError(f"given expert '{entry.name}' has the name of one the workflow trains")
        zoo[entry.name] = Expert(entry.name, entry.model_name, (), "given", GIVEN, entry=entry)
    return zoo


def given_entries(config) -> list[Any]:
    """The config's ``zoo.given`` entries, parsed by the zoo-entry parser of ``zooselect rank``
    (``userzoo.parse_zoo``); relative checkpoint paths are relative to the working directory."""
    given = config["zoo"].get("given") or {}
    if not given:
        return []
    from .userzoo import parse_zoo

    return parse_zoo(given, Path("."), "zoo.given")


def zoo_from_config(config) -> dict[str, Expert]:
    """The zoo a (schema-validated) workflow config builds or is given."""
    zoo_config = config["zoo"]
    return build_zoo(
        list(zoo_config.get("architectures", {})),
        list(config.get("sources", {})),
        list(zoo_config.get("inits", ["scratch"])),
        zoo_config.get("generic", True),
        list(zoo_config.get("multidomain", {}).get("variants", [])),
        zoo_config.get("generic_sources"),
        given_entries(config),
    )

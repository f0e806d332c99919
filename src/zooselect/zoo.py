"""The zoo's names: which experts a config builds and how their names read.

Single-domain experts are ``{arch}-{source}-{init}`` (``resnet-mnist-scratch``),
the generic expert of an architecture, trained on the union of the sources,
is ``{arch}-generic``. Names of architectures and sources use lowercase
letters, digits and underscores only, so ``-`` joins them unambiguously.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
INITS = ("scratch", "generic")


@dataclass(frozen=True)
class Expert:
    """One zoo entry: its architecture, the sources it was trained on, its initialisation."""

    name: str
    arch: str
    sources: tuple[str, ...]
    init: str  # "scratch", or "generic": initialised from the generic expert of its arch


def generic_name(arch: str) -> str:
    return f"{arch}-generic"


def single_domain_name(arch: str, source: str, init: str) -> str:
    return f"{arch}-{source}-{init}"


def check_name(kind: str, name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"{kind} name '{name}' must use lowercase letters, digits and underscores only "
            "(it becomes part of file names and expert names)"
        )


def build_zoo(
    archs: list[str], sources: list[str], inits: list[str], generic: bool = True
) -> dict[str, Expert]:
    """All experts of the single-domain zoo, by name, in a stable order."""
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
            zoo[generic_name(arch)] = Expert(generic_name(arch), arch, tuple(sources), "scratch")
        for source in sources:
            for init in inits:
                name = single_domain_name(arch, source, init)
                zoo[name] = Expert(name, arch, (source,), init)
    return zoo

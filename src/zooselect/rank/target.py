"""What ``zooselect rank --target`` names: a dataset of the data registry, checked before any work.

A target is a YAML file (``kind``, ``options``, optional ``name``, as a
config target), a shorthand (``imagefolder:PATH``, ``csv:PATH``,
``torchvision:NAME``, ``url:URL#sha256=HEX``) or a folder of images.
:func:`parse_target` turns it into a :class:`TargetSpec` whose options the
data registry accepts (:func:`zooselect.data.dataset_options`), or raises
:class:`zooselect.userzoo.ZooError` naming what is wrong. Building the
dataset is the orchestration's job (:mod:`zooselect.rank.run`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..userzoo import ZooError, read_yaml

SHORTHAND = {"imagefolder": "root", "csv": "path", "torchvision": "name"}
PATH_OPTIONS = ("root", "path", "download_dir", "cache_dir")  # cache_dir: download_dir's old name


@dataclass(frozen=True)
class TargetSpec:
    """The target dataset: a data-registry kind, its options and a name (used in seeds and files)."""

    name: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return json.dumps({"name": self.name, "kind": self.kind, "options": self.options}, sort_keys=True, default=str)


def _safe_name(text: str) -> str:
    name = "".join(c if c.isalnum() or c in "_-." else "_" for c in text).strip("._-")
    return name or "target"


def parse_target(spec: str) -> TargetSpec:
    """A target from ``--target``: a YAML file (``kind``, ``options``, optional ``name``, as a config
    target), ``imagefolder:PATH``, ``csv:PATH``, ``torchvision:NAME``, ``url:URL#sha256=HEX``, or a
    folder (an image folder). Relative paths in a YAML file are relative to its folder."""
    from ..data import DATASET_KINDS

    path = Path(spec).expanduser()
    if path.suffix in (".yaml", ".yml") or path.is_file():
        data = read_yaml(path, "target spec")
        if not isinstance(data, dict) or "kind" not in data:
            raise ZooError(f"target spec {path}: expected a mapping with 'kind' (and 'options'), got {data!r}")
        unknown = sorted(set(data) - {"kind", "options", "name"})
        if unknown:
            raise ZooError(f"target spec {path}: unknown key(s) {', '.join(unknown)}; valid keys: kind, name, options")
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise ZooError(f"target spec {path}: 'options' must be a mapping, got {options!r}")
        base = path.parent.resolve()
        options = {
            key: (os.path.normpath(base / value) if key in PATH_OPTIONS and isinstance(value, str) and value
                  and not Path(value).expanduser().is_absolute() and "://" not in value else value)
            for key, value in options.items()
        }  # fmt: skip
        name = str(data.get("name") or path.stem)
        return _checked(TargetSpec(_safe_name(name), str(data["kind"]), options))
    kind, sep, value = spec.partition(":")
    if sep and kind == "url":
        url, _, fragment = value.partition("#sha256=")
        if not fragment:
            raise ZooError(f"target '{spec}': a url target needs its sha256: url:URL#sha256=HEX")
        stem = Path(url.split("?")[0].rstrip("/")).name.split(".")[0]
        return _checked(TargetSpec(_safe_name(stem), "url", {"url": url, "sha256": fragment}))
    if sep and kind in SHORTHAND and value:
        option = SHORTHAND[kind]
        if option in PATH_OPTIONS:
            value_path = Path(value).expanduser().resolve()
            stem = value_path.stem if option == "path" else value_path.name  # a manifest file, or a folder
            return _checked(TargetSpec(_safe_name(stem), kind, {option: str(value_path)}))
        return _checked(TargetSpec(_safe_name(value), kind, {option: value}))
    if path.is_dir():
        return _checked(TargetSpec(_safe_name(path.resolve().name), "imagefolder", {"root": str(path.resolve())}))
    if sep and kind in DATASET_KINDS:
        raise ZooError(f"target '{spec}': kind '{kind}' has no shorthand; write a YAML target spec")
    raise ZooError(
        f"target '{spec}' is neither a YAML file, a folder nor a shorthand "
        f"({', '.join(f'{k}:{v.upper()}' for k, v in SHORTHAND.items())}, url:URL#sha256=HEX)"
    )


def _checked(target: TargetSpec) -> TargetSpec:
    from ..data import dataset_options, renamed_options

    try:
        valid = dataset_options(target.kind)
        target = TargetSpec(target.name, target.kind, renamed_options(target.kind, target.options, "target: "))
    except ValueError as error:
        raise ZooError(f"target: {error}") from None
    unknown = sorted(set(target.options) - set(valid))
    if unknown:
        raise ZooError(
            f"target: unknown option(s) {', '.join(unknown)} for dataset kind '{target.kind}'; "
            f"valid options: {', '.join(sorted(valid))}"
        )
    return target

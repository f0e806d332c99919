"""Given zoo entries: named experts from torchvision, timm or checkpoint files.

A zoo entry is either trained by the workflow (:mod:`zooselect.zoo`) or
given: a model someone else trained. Given entries are written in one
format, read by one parser (:func:`parse_zoo`, :func:`parse_entry`) and
loaded by one loader (:func:`load_expert`), wherever they appear: in
``zooselect rank``'s zoo file (``--zoo``) and in a workflow config's
``zoo.given``. The zoo file (YAML) maps each expert's name to its
``origin`` (where the model comes from) and that origin's arguments
(``zoo.given`` is the same mapping, without the ``experts:`` key; ``source``,
the key's old name, is still read with a warning: in zooselect ``source``
is a dataset an expert was trained on)::

    experts:
      tv_resnet50:                   # torchvision: a model name and its weights enum
        origin: torchvision
        model: resnet50
        weights: IMAGENET1K_V2       # default DEFAULT; null = random initialisation
      convnext:                      # timm: a model name (optionally with a tag)
        origin: timm
        model: convnext_atto.d2_in1k
        pretrained: true             # default true; false = random initialisation
        options: {drop_rate: 0.0}    # passed to timm.create_model
      mine:                          # a zooselect checkpoint: nothing else needed
        origin: checkpoint
        path: experts/resnet-mnist-scratch.pt
      finetuned:                     # a plain state dict or .safetensors: name its architecture
        origin: checkpoint
        path: r50_birds.safetensors
        arch: resnet50
        library: torchvision         # optional: zooselect | torchvision | timm (default: looked up)
        num_classes: 200             # optional: read from the classifier weight
        options: {}                  # architecture options (e.g. width for zooselect's resnet)

Every entry may also set ``preprocessing``: ``benchmark`` (32x32, each image
standardised, as the benchmark's experts are trained), ``imagenet`` (resize
256, crop 224, ImageNet's mean and std) or a mapping with ``size``,
``resize``, ``mean``, ``std`` and ``interpolation``. Without it, each expert
gets its own: torchvision's weights' transforms, timm's pretrained_cfg, the
benchmark's for zooselect checkpoints and our small architectures, ImageNet's
for other architectures in a plain state dict.

A list of entries, each with a ``name``, may replace the mapping. Relative
checkpoint paths are relative to the zoo file's folder (in a workflow config:
to the working directory). :func:`check_entry` checks the names an entry
uses (model, weights, checkpoint file) without building or downloading
anything, so a workflow stops at start-up on a misspelt one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from .models.inputs import BENCHMARK_INPUT, InputSpec, imagenet_input
from .options import close_matches

log = logging.getLogger(__name__)

EXPERT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_REQUIRED = object()
ORIGINS: dict[str, dict[str, Any]] = {
    "torchvision": {"model": _REQUIRED, "weights": "DEFAULT", "preprocessing": None},
    "timm": {"model": _REQUIRED, "pretrained": True, "options": {}, "preprocessing": None},
    "checkpoint": {
        "path": _REQUIRED,
        "arch": None,
        "library": None,
        "options": {},
        "num_classes": None,
        "preprocessing": None,
    },
}

WEIGHTS_KEY = {"torchvision": "weights", "timm": "pretrained"}
"""The key of a hub origin's weights: each origin is the library of that name (models.registry)."""


class ZooError(ValueError):
    """A zoo file that cannot be used, with a message naming the culprit."""


@dataclass(frozen=True)
class ZooEntry:
    """One given zoo entry: its name, origin and the origin's arguments (defaults filled in)."""

    name: str
    origin: str
    args: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """The entry as canonical JSON: equal entries give equal strings (used to reuse caches, and
        as the workflow's params, so a changed entry re-runs its jobs)."""
        return json.dumps({"origin": self.origin, **self.args}, sort_keys=True, default=str)

    @classmethod
    def from_description(cls, name: str, description: str) -> "ZooEntry":
        """The entry ``describe`` wrote (as the workflow's jobs receive it)."""
        args = json.loads(description)
        return cls(name, args.pop("origin"), args)

    @property
    def model_name(self) -> str:
        """What the entry builds: its model, or its checkpoint's architecture (or file) name."""
        return str(self.args.get("model") or self.args.get("arch") or Path(self.args["path"]).name)

    def label(self) -> str:
        """A short description for tables: 'torchvision resnet50 (IMAGENET1K_V2)'."""
        args = self.args
        if self.origin == "torchvision":
            return f"torchvision {args['model']} ({args['weights'] or 'random'})"
        if self.origin == "timm":
            return f"timm {args['model']} ({'pretrained' if args['pretrained'] else 'random'})"
        return f"checkpoint {Path(args['path']).name}"


@dataclass
class LoadedExpert:
    """An expert ready to run: ``model.features`` / ``model.head``, and how to prepare its input."""

    entry: ZooEntry
    model: nn.Module
    inputs: InputSpec
    info: dict[str, Any]

    @property
    def name(self) -> str:
        return self.entry.name


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML silently keeps the last of two equal keys; a zoo file must not."""


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ZooError(f"'{key}' appears twice (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_yaml(path: str | Path, what: str) -> Any:
    """A YAML file's contents; a ZooError naming the file when it is missing or not YAML."""
    path = Path(path)
    if not path.is_file():
        raise ZooError(f"{what} {path} does not exist or is not a file")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except ZooError as error:
        raise ZooError(f"{what} {path}: {error}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ZooError(f"{what} {path} is not valid YAML: {error}") from error


def parse_zoo(data: Any, base: Path, where: str = "zoo file") -> list[ZooEntry]:
    """The entries of a parsed zoo file; ``base`` anchors relative checkpoint paths."""
    if isinstance(data, dict) and set(data) == {"experts"}:
        data = data["experts"]
    elif isinstance(data, dict) and "experts" in data:
        extra = sorted(set(data) - {"experts"})
        raise ZooError(f"{where}: unknown top-level key(s) {', '.join(map(str, extra))}; only 'experts'")
    if isinstance(data, list):
        items = []
        for position, item in enumerate(data, 1):
            if not isinstance(item, dict) or "name" not in item:
                raise ZooError(f"{where}: entry {position} must be a mapping with a 'name'")
            item = dict(item)
            items.append((item.pop("name"), item))
        names = [str(name) for name, _ in items]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ZooError(f"{where}: expert name(s) used twice: {', '.join(twice)}")
    elif isinstance(data, dict):
        items = list(data.items())
    else:
        raise ZooError(f"{where}: expected 'experts:' mapping names to entries, got {type(data).__name__}")
    if not items:
        raise ZooError(f"{where}: no experts")
    return [parse_entry(str(name), spec, base, where) for name, spec in items]


def parse_entry(name: str, spec: Any, base: Path, where: str = "zoo file") -> ZooEntry:
    """One expert entry, checked (origin, required and unknown arguments) with defaults filled in."""
    if not EXPERT_NAME.match(name):
        raise ZooError(
            f"{where}: expert name '{name}' must start with a letter or digit and use only "
            "letters, digits, '_', '-' and '.' (it names the expert's files)"
        )
    if not isinstance(spec, dict):
        raise ZooError(f"{where}: expert '{name}' must be a mapping with an 'origin', got {spec!r}")
    spec = dict(spec)
    if "source" in spec:  # the key's old name
        if "origin" in spec:
            raise ZooError(f"{where}: expert '{name}': give 'origin' only ('source' is its old name)")
        warnings.warn(
            f"{where}: expert '{name}': the key 'source' is now 'origin' (where the model comes from); "
            "'source' will stop working",
            FutureWarning,
            stacklevel=2,
        )
        spec["origin"] = spec.pop("source")
    if "origin" not in spec:
        keys = {"origin", *(key for fields in ORIGINS.values() for key in fields)}
        typos = "".join(
            f"; unknown key '{key}'{close_matches(key, keys)}" for key in sorted(map(str, spec)) if key not in keys
        )
        raise ZooError(
            f"{where}: expert '{name}' has no 'origin' key{typos}; valid keys: origin "
            f"({', '.join(ORIGINS)}) and that origin's keys"
        )
    origin = spec.pop("origin")
    if origin not in ORIGINS:
        raise ZooError(
            f"{where}: expert '{name}' has origin {origin!r}{close_matches(str(origin), ORIGINS)}; "
            f"valid origins: {', '.join(ORIGINS)}"
        )
    fields = ORIGINS[origin]
    unknown = sorted(set(map(str, spec)) - set(fields))
    if unknown:
        named = ", ".join(f"{key}{close_matches(key, ['origin', *fields])}" for key in unknown)
        raise ZooError(
            f"{where}: expert '{name}' ({origin}): unknown key(s) {named}; "
            f"valid keys: origin, {', '.join(fields)}"
        )
    args = {}
    for key, default in fields.items():
        if key in spec:
            args[key] = spec[key]
        elif default is _REQUIRED:
            raise ZooError(f"{where}: expert '{name}' ({origin}) needs '{key}'")
        else:
            args[key] = default
    if "options" in args and not isinstance(args["options"], dict):
        raise ZooError(f"{where}: expert '{name}': 'options' must be a mapping, got {args['options']!r}")
    if origin == "timm" and not isinstance(args["pretrained"], bool):
        raise ZooError(f"{where}: expert '{name}': 'pretrained' must be true or false")
    if origin == "checkpoint":
        path = Path(str(args["path"])).expanduser()
        args["path"] = os.path.normpath(path if path.is_absolute() else (base / path))
        if args["num_classes"] is not None and (
            isinstance(args["num_classes"], bool) or not isinstance(args["num_classes"], int)
        ):
            raise ZooError(f"{where}: expert '{name}': 'num_classes' must be an integer")
    try:
        input_override(args["preprocessing"])
    except (TypeError, ValueError) as error:
        raise ZooError(f"{where}: expert '{name}': bad preprocessing: {error}") from error
    return ZooEntry(name, origin, args)


def read_zoo(path: str | Path) -> list[ZooEntry]:
    """The experts of zoo file ``path``."""
    path = Path(path)
    return parse_zoo(read_yaml(path, "zoo file"), path.parent.resolve(), f"zoo file {path}")


def input_override(value: Any) -> InputSpec | None:
    """An entry's ``preprocessing``: None, 'benchmark', 'imagenet' or a mapping of InputSpec fields."""
    if value is None:
        return None
    if value == "benchmark":
        return BENCHMARK_INPUT
    if value == "imagenet":
        return imagenet_input()
    if not isinstance(value, dict):
        raise ValueError(f"expected benchmark, imagenet or a mapping, got {value!r}")
    fields = {"size", "resize", "mean", "std", "interpolation"}
    unknown = sorted(set(value) - fields)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(fields))}")
    if "size" not in value:
        raise ValueError("'size' is required")
    value = dict(value)
    value.setdefault("resize", value["size"])
    return InputSpec(**value)


def check_entry(entry: ZooEntry, where: str = "zoo file") -> None:
    """The names ``entry`` uses, checked without building a model or downloading weights.

    torchvision: the model is one of torchvision's classifiers and the
    weights one of its enum members; timm: the model (without its tag) is
    one timm knows; a checkpoint: the file exists, and ``library`` and
    ``arch`` (where given) are known. Raises ZooError naming the entry and
    the closest valid names. Imports torchvision or timm only when an entry
    of theirs is checked.
    """
    from .models.registry import find_library, library_named

    args = entry.args
    try:
        if entry.origin == "checkpoint":
            if not Path(args["path"]).is_file():
                raise ValueError(f"checkpoint {args['path']} does not exist or is not a file")
            if args["arch"] is not None:
                find_library(args["arch"], args["library"])
            elif args["library"] is not None:
                library_named(args["library"])
        else:
            library_named(entry.origin).check(args["model"], _weights(entry))
    except ValueError as error:
        raise ZooError(f"{where}: expert '{entry.name}': {error}") from None


def _weights(entry: ZooEntry) -> Any:
    """A hub entry's weights as its library takes them: torchvision's name, timm's ``pretrained``."""
    return entry.args[WEIGHTS_KEY[entry.origin]]


def gives_gradients(entry: ZooEntry) -> bool | None:
    """Whether the entry's model gives LGC its per-sample gradients (a last convolution it can
    resume from: torchvision's ResNets and DenseNets); None for a checkpoint, which tells only
    when loaded (zooselect's models and those torchvision ones do)."""
    if entry.origin == "checkpoint":
        return None
    from .models.registry import library_named

    return library_named(entry.origin).gives_gradients(entry.args["model"])


def known_source_accuracy(entry: ZooEntry) -> float | None:
    """The entry's source accuracy where it is known without loading the model: torchvision's
    from its weights' metadata (NaN without weights), NaN for timm (its pretrained_cfg has none)
    and for a .safetensors file; None for other checkpoints (a zooselect checkpoint carries its
    own). See :mod:`zooselect.models.expert_attributes`."""
    import math

    if entry.origin == "torchvision":
        from .models.expert_attributes import torchvision_source_accuracy

        return torchvision_source_accuracy(entry.args["model"], entry.args["weights"])
    if entry.origin == "timm" or Path(entry.args["path"]).suffix == ".safetensors":
        return math.nan
    return None


def load_expert(entry: ZooEntry, seed: int | None = None) -> LoadedExpert:
    """Build or load the entry's model (eval mode) and its input preparation.

    seed: seeds torch's generator with the expert's name first
    (``derive_seed(seed, "expert", name)``), so an expert with random
    weights gets the same weights in every run and every job.
    """
    if seed is not None:
        import torch

        from .seeding import derive_seed

        torch.manual_seed(derive_seed(seed, "expert", entry.name))
    args = entry.args
    try:
        if entry.origin == "checkpoint":
            from .models.local import load_local_expert, local_input

            model, info = load_local_expert(
                args["path"], args["arch"], args["library"], args["options"], args["num_classes"]
            )
            inputs = local_input(model, info, args["options"])
        else:
            from .models.registry import library_named

            library, weights = library_named(entry.origin), _weights(entry)
            model = library.build(args["model"], weights=weights, options=args.get("options"))
            inputs = library.input(args["model"], model, weights)
            info = {"library": library.name, "arch": args["model"], WEIGHTS_KEY[entry.origin]: weights}
    except ValueError as error:
        raise ZooError(f"expert '{entry.name}': {error}") from error
    except (OSError, RuntimeError) as error:  # e.g. weights that cannot be downloaded
        raise ZooError(f"expert '{entry.name}' ({entry.label()}): {type(error).__name__}: {error}") from error
    override = input_override(args["preprocessing"])
    inputs = override or inputs
    model.eval()
    return LoadedExpert(entry, model, inputs, info)


def load_zoo_expert(
    name: str, checkpoint: str | None, given: str = "", seed: int = 0
) -> tuple[nn.Module, InputSpec, dict[str, Any]]:
    """A workflow job's expert, trained or given: (model, its input preparation, its info).

    given: the given entry's ``describe()`` (the job's params), or empty for
    an expert the workflow trained, which is read from ``checkpoint``
    (``results/experts/{name}.pt``). A given entry is loaded by
    :func:`load_expert` as ``zooselect rank`` loads it, seeded by its name.
    """
    if given:
        expert = load_expert(ZooEntry.from_description(name, given), seed)
        return expert.model, expert.inputs, expert.info
    from .models.checkpoint import checkpoint_input, load_checkpoint

    model, info = load_checkpoint(checkpoint)
    return model, checkpoint_input(info), info

"""Checks of a workflow config that a JSON schema cannot express.

The schema (workflow/schemas/config.schema.yaml) checks keys and types; this
module checks names against the registries (dataset kinds, architectures,
methods and their options), option values without building anything (an
architecture's options against its constructor's keywords and defaults, a
dataset's options and the number of classes they give, a method's options
against its defaults and its own check), and the cross-references between
sections, so a bad config stops at start-up, in ``snakemake -n`` too, with
one message naming the key at fault and the valid choices.
"""

from __future__ import annotations


import math
from typing import Any, Mapping

from .options import close_matches
from .regimes import regime_shots
from .zoo import generic_name, zoo_from_config


class ConfigError(ValueError):
    """A config that the workflow cannot run."""


def _choices(names) -> str:
    return ", ".join(sorted(names))


def check_dataset(section: str, name: str, spec: Mapping[str, Any]) -> None:
    """A dataset's kind and options, and the class count they fix, checked without building it
    (:func:`zooselect.data.check_dataset_options`)."""
    from .data import check_dataset_options

    try:
        check_dataset_options(spec["kind"], spec.get("options", {}))
    except ValueError as error:
        raise ConfigError(f"{section}.{name}: {error}") from None


def _check_arch(key: str, arch: str, options: Mapping[str, Any]) -> None:
    """Options of architecture ``arch`` at config key ``key``, checked against its constructor."""
    from .models.registry import check_arch_options

    try:
        check_arch_options(arch, options)
    except ValueError as error:
        raise ConfigError(f"{key}: {error}") from None


def _check_method(method: str, options: Mapping[str, Any]) -> None:
    """A method's option names and their values' types against its defaults, then its own hook."""
    from .options import check_value_types
    from .scores import METHODS

    valid = METHODS[method].options
    for option in options:
        if option not in valid:
            raise ConfigError(
                f"methods.{method}: unknown option '{option}'{close_matches(option, valid)}; valid options: "
                f"{_choices(valid) or '(none)'}"
            )
    try:
        check_value_types(options, valid)
        if METHODS[method].check_options is not None:
            METHODS[method].check_options(options)
    except ValueError as error:
        raise ConfigError(f"methods.{method}: {error}") from None


RENAMED_KEYS = {("stability", "seeds"): "draws"}
"""Config keys renamed, (section, old name) -> new name: the old name is still read, with a warning.
``stability.seeds`` counted draws of the probe set, not random seeds."""


def renamed_keys(config: dict[str, Any]) -> list[str]:
    """Replace, in place, the old names of renamed config keys by the new ones; run before the
    schema fills in defaults. Returns a warning per old name found (the workflow prints them);
    ConfigError when both names are given."""
    found = []
    for (section, old), new in RENAMED_KEYS.items():
        part = config.get(section)
        if isinstance(part, dict) and old in part:
            if new in part:
                raise ConfigError(f"{section}: give '{new}' only ('{old}' is its old name)")
            found.append(f"config key {section}.{old} is now {section}.{new}; '{old}' will stop working")
            part[new] = part.pop(old)
    return found


def check_config(config: Mapping[str, Any]) -> None:
    """Raise ConfigError for the first problem found in a schema-valid config."""
    from .models import ARCHITECTURES
    from .models.registry import valid_architectures
    from .scores import METHODS

    for section in ("sources", "targets"):
        for name, spec in config.get(section, {}).items():
            check_dataset(section, name, spec)
    for name, spec in config.get("sources", {}).items():
        if "regimes" in spec:
            raise ConfigError(f"sources.{name}: 'regimes' is for targets only")
    for name, spec in config["targets"].items():
        unknown = [r for r in spec.get("regimes", []) if r not in config["regimes"]]
        if unknown:
            raise ConfigError(
                f"targets.{name}.regimes: {', '.join(unknown)} not in regimes ({', '.join(config['regimes'])})"
            )
    both = set(config.get("sources", {})) & set(config["targets"])
    if both:
        raise ConfigError(f"names used both as a source and a target: {_choices(both)}")

    for arch, options in config["zoo"].get("architectures", {}).items():
        if arch not in ARCHITECTURES:
            raise ConfigError(
                f"zoo.architectures: unknown architecture '{arch}'; valid architectures: "
                f"{valid_architectures()}"
            )
        _check_arch(f"zoo.architectures.{arch}", arch, options)
    probe = config.get("selection", {}).get("probe", {})
    probe_arch = probe.get("arch", "resnet")
    if probe_arch not in ARCHITECTURES:
        raise ConfigError(
            f"selection.probe.arch: unknown architecture '{probe_arch}'; valid architectures: "
            f"{valid_architectures()}"
        )
    _check_arch("selection.probe.options", probe_arch, probe.get("options", {}))
    if config["zoo"].get("multidomain", {}).get("variants"):
        from .models.multidomain_resnet import check_trunk_options

        try:
            check_trunk_options(config["zoo"]["multidomain"].get("options", {}))
        except ValueError as error:
            raise ConfigError(f"zoo.multidomain.options: {error}") from None
    from .userzoo import ZooError

    try:
        zoo = zoo_from_config(config)
    except ZooError as error:  # a given entry: its message names zoo.given and the expert
        raise ConfigError(str(error)) from None
    except ValueError as error:
        raise ConfigError(f"zoo: {error}") from error
    check_trained_zoo(config, zoo)
    check_given_zoo(config, zoo)
    baseline = config["zoo"]["baseline"]
    if baseline not in zoo:
        raise ConfigError(f"zoo.baseline: unknown expert '{baseline}'; valid experts: {_choices(zoo)}")

    for method, options in config["methods"].items():
        if method not in METHODS:
            raise ConfigError(
                f"methods: unknown method '{method}'{close_matches(method, METHODS)}; valid methods: {_choices(METHODS)}"
            )
        _check_method(method, options)

    report_method = config.get("report", {}).get("method", "lfc")
    if report_method not in config["methods"]:
        raise ConfigError(
            f"report.method: '{report_method}' is not one of the configured methods ({', '.join(config['methods'])})"
        )

    if config.get("stability", {}).get("draws", 0):
        pool = config.get("selection", {}).get("images_per_class", 50)
        larger = [r for r in config["regimes"] if regime_shots(r) > pool]
        if larger:
            raise ConfigError(
                f"stability: regime(s) {', '.join(larger)} need more images per class than the selection "
                f"pool has (selection.images_per_class = {pool}); raise it or set stability.draws to 0"
            )

    missing = [regime for regime in config["regimes"] if regime not in config["finetune"]["epochs"]]
    if missing:
        raise ConfigError(f"finetune.epochs: no epochs given for regime(s) {', '.join(missing)}")
    if config["finetune"].get("ground_truth", "finetune") == "published":
        check_published_ground_truth(config, list(zoo))


def check_trained_zoo(config: Mapping[str, Any], zoo: Mapping[str, Any]) -> None:
    """What the experts the workflow trains need: sources, and a schedule for each kind."""
    if not zoo:
        raise ConfigError(
            "zoo: no experts; give zoo.architectures (experts the workflow trains), "
            "zoo.multidomain.variants or zoo.given (torchvision, timm or checkpoint entries)"
        )
    trained = [expert for expert in zoo.values() if not expert.given]
    training = config.get("training", {})
    if trained and not config.get("sources"):
        raise ConfigError(
            "sources: the experts the workflow trains need at least one source dataset "
            f"({', '.join(e.name for e in trained[:3])}{' ...' if len(trained) > 3 else ''})"
        )
    generic = [e for e in trained if e.name == generic_name(e.arch)]
    if len(trained) > len(generic) + sum(e.init == "multidomain" for e in trained) and "expert" not in training:
        raise ConfigError("training.expert: a schedule is needed to train the single-domain experts")
    if generic and "generic" not in training:
        raise ConfigError("training.generic: a schedule is needed to train the generic experts (zoo.generic)")
    if config["zoo"].get("multidomain", {}).get("variants") and "multidomain" not in training:
        raise ConfigError("training.multidomain: a schedule is needed when zoo.multidomain.variants is set")


def check_given_zoo(config: Mapping[str, Any], zoo: Mapping[str, Any]) -> None:
    """Given entries: the names they use exist (checked without downloading anything), and every
    listed method can run on them.

    - ``domain_similarity`` compares the target with the expert's own source
      training data, which a given expert does not come with: refused.
    - ``lgc`` needs per-sample gradients of the last convolution, which
      torchvision's ResNets and DenseNets give and other torchvision models
      and timm models do not: refused for those (a checkpoint is checked
      when its cache is extracted).
    - ``source_accuracy`` needs the expert's accuracy on its source, which
      torchvision publishes in its weights' metadata; random weights
      (``weights: null``), timm models and .safetensors files have none, so
      the scoring job would stop on them: refused here instead.
    """
    from .userzoo import ZooError, check_entry, gives_gradients, known_source_accuracy

    given = [expert.entry for expert in zoo.values() if expert.given]
    if not given:
        return
    for entry in given:
        try:
            check_entry(entry, "zoo.given")
        except ZooError as error:
            raise ConfigError(str(error)) from None
    methods = config["methods"]

    def refuse(method: str, entries: list, why: str) -> None:
        if method in methods and entries:
            names = ", ".join(f"{e.name} ({e.label()})" for e in entries)
            raise ConfigError(f"methods.{method}: {why}, which the given expert(s) {names} lack; "
                              f"remove {method} from methods or these entries from zoo.given")

    refuse("domain_similarity", given, "it compares the target with each expert's own source training data")
    refuse("lgc", [e for e in given if gives_gradients(e) is False],
           "it needs per-sample gradients of the last convolution (torchvision's ResNets and DenseNets have them)")
    if "source_accuracy" in methods:
        accuracies = {e.name: known_source_accuracy(e) for e in given}
        unknown = [e for e in given if accuracies[e.name] is not None and math.isnan(accuracies[e.name])]
        why = "it ranks by the expert's published source accuracy (torchvision's weights metadata)"
        refuse("source_accuracy", unknown, why)


def check_published_ground_truth(config: Mapping[str, Any], experts: list[str]) -> None:
    """A published ground truth: its table is there, sound, covers the zoo and targets, and the
    config asks only for the regime it speaks for (read at start-up, before any job runs)."""
    from .ground_truth import PUBLISHED_REGIME, GroundTruthError, read_published

    path = config["finetune"].get("published")
    if not path:
        raise ConfigError(
            "finetune.published: the path of the published accuracies is needed with "
            "finetune.ground_truth: published"
        )
    other = [regime for regime in config["regimes"] if regime != PUBLISHED_REGIME]
    if other:
        raise ConfigError(
            f"regimes: a published table gives fine-tuned accuracies of the {PUBLISHED_REGIME} training set "
            f"only; remove {', '.join(other)} or use finetune.ground_truth: finetune"
        )
    try:
        read_published(path, experts, list(config["targets"]))
    except GroundTruthError as error:
        raise ConfigError(f"finetune.published: {error}") from error

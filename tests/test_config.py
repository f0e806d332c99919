"""Zoo names and the config checks that stop a bad config at start-up."""

import copy
from pathlib import Path

import pytest
import yaml

from zooselect.config import ConfigError, check_config, renamed_keys
from zooselect.zoo import build_zoo

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_zoo_names_say_architecture_source_and_init():
    zoo = build_zoo(["resnet", "densenet"], ["mnist", "shapes"], ["scratch", "generic"])
    assert list(zoo) == [
        "resnet-generic",
        "resnet-mnist-scratch",
        "resnet-mnist-generic",
        "resnet-shapes-scratch",
        "resnet-shapes-generic",
        "densenet-generic",
        "densenet-mnist-scratch",
        "densenet-mnist-generic",
        "densenet-shapes-scratch",
        "densenet-shapes-generic",
    ]
    assert zoo["resnet-generic"].sources == ("mnist", "shapes")
    assert zoo["densenet-shapes-generic"].init == "generic"


def test_names_with_dashes_are_refused():
    with pytest.raises(ValueError, match="source name 'my-data'"):
        build_zoo(["resnet"], ["my-data"], ["scratch"])


def test_default_config_is_accepted_and_has_twelve_experts():
    check_config(DEFAULT)
    zoo = build_zoo(list(DEFAULT["zoo"]["architectures"]), list(DEFAULT["sources"]), DEFAULT["zoo"]["inits"])
    assert len(zoo) >= 12
    assert len(DEFAULT["sources"]) >= 5 and len(DEFAULT["targets"]) >= 4


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["sources"]["mnist"].update(kind="imagenet"), r"sources.mnist: unknown dataset kind 'imagenet'; valid kinds: .*mnist"),
        (lambda c: c["targets"]["dots"].update(options={"colour": 1}), r"targets.dots: unknown option 'colour'.*valid options"),
        (lambda c: c["zoo"]["architectures"].update(vgg={}), r"unknown architecture 'vgg'; valid architectures: densenet, resnet"),
        (lambda c: c["zoo"].update(baseline="resnet-imagenet"), r"zoo.baseline: unknown expert 'resnet-imagenet'; valid experts: .*resnet-generic"),
        (lambda c: c["methods"].update(magic={}), r"methods: unknown method 'magic'; valid methods: .*lfc"),
        (lambda c: c["methods"].update(random={"sed": 1}), r"methods.random: unknown option 'sed' \(did you mean seed\?\); valid options: seed"),
        (lambda c: c["methods"].update(mean_rank={"methods": ["lfc", "rsa"]}), r"methods.mean_rank: method 'rsa' needs probe_features"),
        (lambda c: c["methods"].update(mean_rank={"methods": {"knn": {"K": 5}}}), r"methods.mean_rank: unknown option\(s\) 'K' for method 'knn'; valid options: distance, k"),
        (lambda c: c["regimes"].append("10shot"), r"finetune.epochs: no epochs given for regime\(s\) 10shot"),
        (lambda c: c["selection"].update(images_per_class=10), r"stability: regime\(s\) 20shot need more images per class than the selection pool has"),
    ],
)
def test_bad_names_stop_with_the_culprit_and_the_choices(edit, message):
    config = copy.deepcopy(DEFAULT)
    edit(config)
    with pytest.raises(ConfigError, match=message):
        check_config(config)


def published_config(tmp_path, drop=0):
    """DEFAULT judged against a published table covering its zoo and targets (less `drop` rows)."""
    config = copy.deepcopy(DEFAULT)
    config["regimes"] = ["full"]
    experts = build_zoo(list(DEFAULT["zoo"]["architectures"]), list(DEFAULT["sources"]), DEFAULT["zoo"]["inits"],
                        variants=DEFAULT["zoo"]["multidomain"]["variants"])  # fmt: skip
    rows = [f"{target},{expert},0.5" for target in config["targets"] for expert in experts]
    path = tmp_path / "published.csv"
    path.write_text("\n".join(["target,expert,test_accuracy", *rows[: len(rows) - drop]]) + "\n")
    config["finetune"].update(ground_truth="published", published=str(path))
    return config


def test_stability_seeds_is_read_as_draws_with_a_warning():
    config = {"stability": {"seeds": 3}, "seed": 0}
    assert renamed_keys(config) == ["config key stability.seeds is now stability.draws; 'seeds' will stop working"]
    assert config == {"stability": {"draws": 3}, "seed": 0}  # the config's own seed is not a draw count
    with pytest.raises(ConfigError, match=r"stability: give 'draws' only \('seeds' is its old name\)"):
        renamed_keys({"stability": {"seeds": 3, "draws": 2}})


def test_a_published_ground_truth_is_checked_at_start_up(tmp_path):
    check_config(published_config(tmp_path))
    config = published_config(tmp_path)
    del config["finetune"]["published"]
    with pytest.raises(ConfigError, match="finetune.published: the path of the published accuracies is needed"):
        check_config(config)
    config = published_config(tmp_path)
    config["regimes"] = ["full", "5shot"]
    config["finetune"]["epochs"]["5shot"] = 1
    with pytest.raises(ConfigError, match="regimes: a published table gives fine-tuned accuracies of the full training set only; remove 5shot"):
        check_config(config)
    with pytest.raises(ConfigError, match=r"finetune.published: .*published.csv lacks the accuracy of 1 \(target, expert\) pair"):
        check_config(published_config(tmp_path, drop=1))
    config = published_config(tmp_path)
    del config["targets"]["dots"]
    with pytest.raises(ConfigError, match=r"finetune.published: .*published.csv, line \d+: unknown target 'dots'"):
        check_config(config)


# ---- given zoo entries (zoo.given), in the format of zooselect rank's zoo file


def given_config(**entries):
    """DEFAULT with `entries` given (name -> zoo entry) beside its trained zoo."""
    config = copy.deepcopy(DEFAULT)
    config["zoo"]["given"] = entries
    return config


def test_given_entries_join_the_zoo_in_their_own_zoo_parsed_as_rank_parses_them(tmp_path, monkeypatch):
    from zooselect.userzoo import parse_entry
    from zooselect.zoo import GIVEN, zoo_from_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mine.safetensors").write_bytes(b"")
    spec = {"tv": {"origin": "torchvision", "model": "resnet18", "weights": None},
            "mine": {"origin": "checkpoint", "path": "models/mine.safetensors", "arch": "resnet18"}}  # fmt: skip
    config = given_config(**spec)
    del config["methods"]["domain_similarity"], config["methods"]["source_accuracy"]
    check_config(config)
    zoo = zoo_from_config(config)
    assert [name for name, e in zoo.items() if e.zoo == GIVEN] == ["tv", "mine"]
    assert all(not e.given for e in zoo.values() if e.zoo != GIVEN)
    # The same parser as a zoo file's: defaults filled in, paths relative to the working directory.
    assert zoo["tv"].entry == parse_entry("tv", spec["tv"], Path("."))
    assert zoo["mine"].entry.args["path"] == "models/mine.safetensors" and zoo["mine"].arch == "resnet18"


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"origin": "torchvision", "model": "resnet18", "weigths": None},
         r"zoo.given: expert 'x' \(torchvision\): unknown key\(s\) weigths \(did you mean weights\?\); valid keys: origin, model, weights"),
        ({"origin": "torchvision"}, r"zoo.given: expert 'x' \(torchvision\) needs 'model'"),
        ({"origin": "hub", "model": "resnet18"}, r"zoo.given: expert 'x' has origin 'hub'; valid origins: torchvision, timm"),
        ({"origin": "torchvision", "model": "resnet181"}, r"zoo.given: expert 'x': unknown torchvision model 'resnet181' \(did you mean resnet18"),
        ({"origin": "torchvision", "model": "resnet18", "weights": "IMAGENET1K_V3"},
         r"zoo.given: expert 'x': unknown weights 'IMAGENET1K_V3' for architecture 'resnet18'; valid weights: IMAGENET1K_V1"),
        ({"origin": "timm", "model": "resnet10tt"}, r"zoo.given: expert 'x': unknown timm model 'resnet10tt' \(did you mean resnet10t"),
        ({"origin": "checkpoint", "path": "nowhere.pt"}, r"zoo.given: expert 'x': checkpoint nowhere.pt does not exist"),
        ({"origin": "torchvision", "model": "resnet18", "preprocessing": {"resize": 64}},
         r"zoo.given: expert 'x': bad preprocessing: 'size' is required"),
    ],
)  # fmt: skip
def test_a_bad_given_entry_stops_naming_itself(entry, message):
    config = given_config(x=entry)
    del config["methods"]["domain_similarity"]
    with pytest.raises(ConfigError, match=message):
        check_config(config)


def test_a_given_name_clashing_with_a_trained_expert_is_refused():
    config = given_config(**{"resnet-generic": {"origin": "torchvision", "model": "resnet18", "weights": None}})
    with pytest.raises(ConfigError, match="given expert 'resnet-generic' has the name of one the workflow trains"):
        check_config(config)


@pytest.mark.parametrize(
    "entry, method, message",
    [
        ({"origin": "torchvision", "model": "resnet50", "weights": "IMAGENET1K_V1"}, "domain_similarity",
         r"methods.domain_similarity: it compares the target with each expert's own source training data, which "
         r"the given expert\(s\) x \(torchvision resnet50 \(IMAGENET1K_V1\)\) lack; remove domain_similarity"),
        ({"origin": "torchvision", "model": "mobilenet_v2", "weights": "IMAGENET1K_V1"}, "lgc",
         r"methods.lgc: it needs per-sample gradients of the last convolution"),
        ({"origin": "timm", "model": "resnet10t", "pretrained": False}, "lgc", r"methods.lgc: .*timm resnet10t \(random\)"),
        # Random weights publish no source accuracy: the scoring job would stop on NaN, so start-up does.
        ({"origin": "torchvision", "model": "resnet18", "weights": None}, "source_accuracy",
         r"methods.source_accuracy: it ranks by the expert's published source accuracy .*torchvision resnet18 \(random\)"),
        ({"origin": "timm", "model": "resnet10t"}, "source_accuracy", r"methods.source_accuracy: .*timm resnet10t"),
    ],
)  # fmt: skip
def test_methods_that_cannot_run_on_a_given_expert_stop_at_start_up(entry, method, message):
    config = given_config(x=entry)
    config["methods"] = {method: {}, "lfc": {}}
    with pytest.raises(ConfigError, match=message):
        check_config(config)


def test_methods_that_can_run_on_given_experts_are_accepted():
    config = given_config(x={"origin": "torchvision", "model": "resnet18", "weights": "IMAGENET1K_V1"})
    config["methods"] = {"lgc": {}, "source_accuracy": {}, "rsa": {}, "lfc": {}}
    check_config(config)


def test_a_zoo_of_given_entries_only_needs_no_sources_and_no_training():
    config = copy.deepcopy(DEFAULT)
    config["sources"] = {}
    del config["training"]
    config["zoo"] = {"architectures": {}, "generic": False, "baseline": "tv",
                     "given": {"tv": {"origin": "torchvision", "model": "resnet18", "weights": None}}}  # fmt: skip
    config["methods"] = {"lfc": {}}
    check_config(config)
    trained = copy.deepcopy(config)
    trained["zoo"]["architectures"] = {"resnet": {}}
    with pytest.raises(ConfigError, match=r"zoo: the experts the workflow trains \(zoo.architectures\) need at least one source"):
        check_config(trained)
    multidomain = copy.deepcopy(config)
    multidomain["zoo"]["multidomain"] = {"variants": ["shared"]}
    with pytest.raises(ConfigError, match="sources: the experts the workflow trains need at least one source"):
        check_config(multidomain)
    trained["sources"] = {"shapes": {"kind": "shapes"}}
    with pytest.raises(ConfigError, match="training.expert: a schedule is needed"):
        check_config(trained)
    empty = copy.deepcopy(config)
    empty["zoo"]["given"] = {}
    with pytest.raises(ConfigError, match="zoo: no experts"):
        check_config(empty)


def test_the_standard_configuration_is_accepted(monkeypatch):
    monkeypatch.chdir(ROOT)  # finetune.published is relative to the working directory
    config = yaml.safe_load((ROOT / "config" / "standard.yaml").read_text())
    check_config(config)
    from zooselect.standard_baselines import STANDARD_MODELS
    from zooselect.zoo import zoo_from_config

    zoo = zoo_from_config(config)
    assert list(zoo) == list(STANDARD_MODELS) and all(e.given for e in zoo.values())
    assert {e.entry.args["weights"] for e in zoo.values()} == {"IMAGENET1K_V1"}


# ---- option values: checked against what they configure, without building anything


@pytest.mark.parametrize(
    "edit, message",
    [
        # Architecture options against the constructor's keywords and its defaults' types.
        (lambda c: c["zoo"]["architectures"]["resnet"].update(widht=8),
         r"zoo.architectures.resnet: unknown option 'widht' \(did you mean width\?\); valid options: adapters, blocks"),
        (lambda c: c["zoo"]["architectures"]["densenet"].update(growth="12"),
         r"zoo.architectures.densenet: option 'growth' must be an integer \(its default is 12\), got '12'"),
        (lambda c: c["zoo"]["architectures"].update(resnet18={"weights": "IMAGENET"}),
         r"zoo.architectures.resnet18: unknown weights 'IMAGENET' for architecture 'resnet18'; valid weights: IMAGENET1K_V1"),
        (lambda c: c["zoo"]["multidomain"]["options"].update(adapters=True),
         r"zoo.multidomain.options: unknown option 'adapters'; valid options: blocks, in_channels, stem_stride, width"),
        (lambda c: c["selection"]["probe"]["options"].update(growth=12),
         r"selection.probe.options: unknown option 'growth'; valid options: adapters"),
        # Dataset options, and the class counts they give.
        (lambda c: c["targets"]["dots"].update(options={"max_dots": 1}),
         r"targets.dots: option 'max_dots' gives 1 class \(one per dot count\); at least 2 needed"),
        (lambda c: c["targets"]["font_digits"]["options"].update(chars="0"),
         r"targets.font_digits: option 'chars' '0' gives 1 class \(one per character\); at least 2 needed"),
        (lambda c: c["targets"]["dots"].update(options={"max_dots": 5, "train": 8}),
         r"targets.dots: option 'train' must be at least 10, got 8"),
        (lambda c: c["sources"]["textures"]["options"].update(part="middle"),
         r"sources.textures: option 'part' must be one of left, right, got 'middle'"),
        (lambda c: c["targets"].update(folder={"kind": "imagefolder", "options": {"root": "x", "test_fraction": 2}}),
         r"targets.folder: option 'test_fraction' must lie strictly between 0 and 1, got 2"),
        # Method options against their defaults' types and the method's own check.
        (lambda c: c["methods"].update(transrate={"eps": "1e-4"}),  # YAML reads 1e-4 as a string
         r"methods.transrate: option 'eps' must be a number \(its default is 0.0001\), got '1e-4'"),
        (lambda c: c["methods"].update(knn={"distance": "manhattan"}),
         r"methods.knn: distance must be one of cosine, euclidean; got 'manhattan'"),
        (lambda c: c["methods"].update(etran={"energy_weight": 0, "lda_weight": 0}),
         r"methods.etran: at least one of energy_weight, lda_weight, svd_weight must be non-zero"),
        (lambda c: c["methods"].update(mean_rank={"methods": {"knn": {"k": 0}}}),
         r"methods.mean_rank: method 'knn': k must be >= 1; got 0"),
        (lambda c: c["methods"].update(nleep={"seed": True}),
         r"methods.nleep: option 'seed' must be an integer \(its default is 0\), got True"),
    ],
)  # fmt: skip
def test_bad_option_values_stop_at_start_up_naming_the_key(edit, message):
    config = copy.deepcopy(DEFAULT)
    edit(config)
    with pytest.raises(ConfigError, match=message):
        check_config(config)


def test_every_dataset_kind_checks_exactly_its_builders_options():
    """A kind's start-up check takes the options its builder takes, so none is left unchecked."""
    import inspect

    from zooselect.data import DATASET_KINDS, OPTION_CHECKS, dataset_options

    assert set(OPTION_CHECKS) == set(DATASET_KINDS)
    for kind, check in OPTION_CHECKS.items():
        assert list(inspect.signature(check).parameters) == list(dataset_options(kind)), kind


def test_the_options_give_the_class_count_where_they_fix_it():
    from zooselect.data import build_dataset, check_dataset_options

    assert check_dataset_options("dots", {"max_dots": 3}) == 3
    assert check_dataset_options("font_glyphs", {"chars": "0123"}) == 4
    assert check_dataset_options("mnist") == 10
    assert check_dataset_options("imagefolder", {"root": "anywhere"}) is None  # the folder decides
    assert check_dataset_options("url", {"url": "https://x", "sha256": None}) is None  # filled in before a build
    built = build_dataset("dots", 0, {"max_dots": 3, "train": 30, "test": 30})
    assert built.num_classes == check_dataset_options("dots", {"max_dots": 3})

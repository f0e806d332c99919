"""Zoo names and the config checks that stop a bad config at start-up."""

import copy
from pathlib import Path

import pytest
import yaml

from zooselect.config import ConfigError, check_config
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
        (lambda c: c["methods"].update(random={"sed": 1}), r"methods.random: unknown option 'sed'; valid options: seed"),
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

"""The published table of fine-tuned accuracies: read when sound, refused (file and line named) when not."""

import math
import re
from pathlib import Path

import pytest

from zooselect.ground_truth import (
    GroundTruthError,
    ground_truth_label,
    published_accuracies,
    read_published,
)

ROOT = Path(__file__).resolve().parents[1]
EXPERTS = ["resnet50", "densenet121"]
TARGETS = ["cars", "dtd"]
GOOD = """target,expert,test_accuracy
cars,resnet50,0.8909
cars,densenet121,0.8934
dtd,resnet50,0.7622
dtd,densenet121,0.7418
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "published.csv"
    path.write_text(text)
    return path


def test_a_sound_table_reads_as_the_summary_reads_fine_tuning():
    path = ROOT / "data" / "published" / "standard_finetune_accuracy.csv"
    experts = ["resnet34", "resnet50", "resnet101", "resnet152", "densenet121", "densenet169",
               "densenet201", "mnasnet1_0", "mobilenet_v2", "googlenet", "inception_v3"]  # fmt: skip
    targets = ["aircraft", "caltech101", "cars", "cifar10", "cifar100", "dtd", "flowers", "food",
               "pets", "sun397", "voc2007"]  # fmt: skip
    accuracies = published_accuracies(path, experts, targets)
    assert list(accuracies.columns) == ["target", "regime", "expert", "accuracy", "seconds"]
    assert len(accuracies) == 121 and (accuracies.regime == "full").all() and accuracies.seconds.isna().all()
    row = accuracies[(accuracies.target == "aircraft") & (accuracies.expert == "resnet34")]
    assert row.accuracy.item() == 0.8406  # the first data row of the published table


def test_without_the_config_only_the_file_is_checked(tmp_path):
    table = read_published(write(tmp_path, GOOD))
    assert table.to_dict("list") == {
        "target": ["cars", "cars", "dtd", "dtd"],
        "expert": ["resnet50", "densenet121", "resnet50", "densenet121"],
        "test_accuracy": [0.8909, 0.8934, 0.7622, 0.7418],
    }


@pytest.mark.parametrize(
    "text, message",
    [
        (GOOD.replace("dtd,resnet50", "dtd,vgg16"), "line 4: unknown expert 'vgg16'; the config's zoo: resnet50, densenet121"),
        (GOOD.replace("dtd,resnet50", "pets,resnet50"), "line 4: unknown target 'pets'; the config's targets: cars, dtd"),
        (GOOD + "cars,resnet50,0.9\n", "line 6: (cars, resnet50) is given twice (first on line 2)"),
        (GOOD.replace("0.7622", "76.22"), "line 4: test_accuracy 76.22 is outside [0, 1] (accuracies are fractions"),
        (GOOD.replace("0.7622", "-0.1"), "line 4: test_accuracy -0.1 is outside [0, 1]"),
        (GOOD.replace("0.7622", "nan"), "line 4: test_accuracy nan is outside [0, 1]"),
        (GOOD.replace("0.7622", "high"), "line 4: test_accuracy 'high' is not a number"),
        (GOOD.replace("0.7622", ""), "line 4: no value for test_accuracy"),
        (GOOD.replace("dtd,resnet50,0.7622", "dtd,resnet50"), "line 4: no value for test_accuracy"),
        (GOOD.replace("0.7622", "0.7622,extra"), "line 4: more values than the columns"),
        (GOOD.replace(",test_accuracy", ",accuracy"), "line 1: missing column(s) test_accuracy; unknown column(s) accuracy"),
        (GOOD.replace("target,expert,test_accuracy", "target,expert"), "line 1: missing column(s) test_accuracy"),
        (GOOD.replace("test_accuracy", "test_accuracy,regime"), "line 1: unknown column(s) regime"),
        ("", "is empty: expected the header target,expert,test_accuracy"),
        ("target,expert,test_accuracy\n", "has a header but no rows"),
    ],
)
def test_a_bad_row_is_refused_naming_the_file_and_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(GroundTruthError, match=re.escape(message)) as error:
        read_published(path, EXPERTS, TARGETS)
    assert str(path) in str(error.value)


def test_a_pair_the_benchmark_needs_but_the_table_lacks_is_named(tmp_path):
    path = write(tmp_path, GOOD.replace("dtd,densenet121,0.7418\n", ""))
    with pytest.raises(GroundTruthError, match=re.escape("lacks the accuracy of 1 (target, expert) pair(s)")) as error:
        read_published(path, EXPERTS, TARGETS)
    assert "(dtd, densenet121)" in str(error.value) and "(cars, resnet50)" not in str(error.value)
    # A config target with no row at all lacks every expert's pair.
    with pytest.raises(GroundTruthError, match=re.escape("(pets, resnet50), (pets, densenet121)")):
        read_published(write(tmp_path, GOOD), EXPERTS, TARGETS + ["pets"])


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(GroundTruthError, match="nowhere.csv do not exist"):
        read_published(tmp_path / "nowhere.csv")


def test_the_summary_label_says_where_the_ground_truth_came_from():
    assert ground_truth_label("finetune") == "finetune"
    assert ground_truth_label("published", "data/published/standard_finetune_accuracy.csv") == (
        "published:standard_finetune_accuracy.csv"
    )
    with pytest.raises(GroundTruthError, match="needs the path"):
        ground_truth_label("published")
    with pytest.raises(GroundTruthError, match="unknown ground truth 'oracle'"):
        ground_truth_label("oracle")
    assert math.isnan(published_accuracies(ROOT / "data" / "published" / "standard_finetune_accuracy.csv").seconds[0])

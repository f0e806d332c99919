"""The zoo tables built from training metrics."""

import math

from zooselect.tables import GENERIC_ROW, multidomain_accuracy, source_accuracy
from zooselect.zoo import build_zoo


def test_source_accuracy_has_a_row_per_source_and_a_column_per_arch_and_init():
    zoo = build_zoo(["resnet", "densenet"], ["mnist", "shapes"], ["scratch", "generic"], variants=["multibn"])
    metrics = {name: {"source_test_accuracy": 0.5 + i / 100} for i, name in enumerate(zoo)}
    table = source_accuracy(zoo.values(), metrics)
    assert list(table.columns) == ["source", "resnet_scratch", "resnet_generic", "densenet_scratch", "densenet_generic"]
    assert list(table.source) == ["mnist", "shapes", GENERIC_ROW]
    row = table.set_index("source").loc["shapes"]
    assert row["densenet_generic"] == metrics["densenet-shapes-generic"]["source_test_accuracy"]
    generic = table.set_index("source").loc[GENERIC_ROW]
    assert generic["resnet_scratch"] == metrics["resnet-generic"]["source_test_accuracy"]
    assert math.isnan(generic["resnet_generic"])  # multi-domain entries are not in this table


def test_multidomain_accuracy_puts_the_single_domain_expert_beside_each_variant():
    variants = {
        "shared": {"source_test_accuracy": {"a": 0.5, "b": 0.6}},
        "multibn": {"source_test_accuracy": {"a": 0.7, "b": 0.8}},
    }
    table = multidomain_accuracy(["a", "b"], {"a": 0.9}, variants)
    assert list(table.columns) == ["domain", "single_domain", "shared", "multibn"]
    assert table.loc[1, "multibn"] == 0.8 and math.isnan(table.loc[1, "single_domain"])

"""The paper's zoo tables, from the experts' training metrics.

- ``source_accuracy``: each single-domain expert's test accuracy on its own
  source, per architecture and initialisation (the paper's table of expert
  accuracies "with and without ImageNet pre-training"), plus the generic
  expert of each architecture on the union of the sources.
- ``multidomain_accuracy``: per source domain, the single-domain ResNet
  (from scratch) against the multi-domain expert's variants, each domain
  tested through its own parameters and head.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd

from .zoo import Expert, generic_name

GENERIC_ROW = "all (generic expert)"


def source_accuracy(experts: Iterable[Expert], metrics: Mapping[str, Mapping]) -> pd.DataFrame:
    """Rows: sources (then the generic experts' row); columns: ``{arch}_{init}``.

    `metrics` maps a single-domain or generic expert's name to its training
    metrics (with ``source_test_accuracy``).
    """
    rows: dict[str, dict[str, float]] = {}
    for expert in experts:
        if expert.zoo != "single_domain":
            continue
        accuracy = float(metrics[expert.name]["source_test_accuracy"])
        if expert.name == generic_name(expert.arch):
            rows.setdefault(GENERIC_ROW, {})[f"{expert.arch}_scratch"] = accuracy
        else:
            rows.setdefault(expert.sources[0], {})[f"{expert.arch}_{expert.init}"] = accuracy
    table = pd.DataFrame.from_dict(rows, orient="index")
    # Columns architecture by architecture, scratch before generic, as in the paper's table.
    archs = list(dict.fromkeys(column.rsplit("_", 1)[0] for column in table.columns))
    columns = [f"{arch}_{init}" for arch in archs for init in ("scratch", "generic")]
    table = table[[column for column in columns if column in table.columns]]
    table.index.name = "source"
    order = [row for row in table.index if row != GENERIC_ROW] + [r for r in table.index if r == GENERIC_ROW]
    return table.loc[order].reset_index()


def multidomain_accuracy(
    sources: list[str],
    single_domain: Mapping[str, float],
    variant_metrics: Mapping[str, Mapping],
) -> pd.DataFrame:
    """Rows: source domains; columns: ``single_domain`` then one per variant.

    `single_domain` maps a source to its single-domain expert's accuracy;
    `variant_metrics` maps a variant to its training metrics, whose
    ``source_test_accuracy`` maps each source to that domain's accuracy
    (each domain's test split through its own parameters and head).
    """
    table = pd.DataFrame({"domain": sources})
    table["single_domain"] = [single_domain.get(source, float("nan")) for source in sources]
    for variant, metrics in variant_metrics.items():
        accuracy = metrics["source_test_accuracy"]
        table[variant] = [float(accuracy[source]) for source in sources]
    return table

"""The target-agnostic baselines on the field's standard benchmark, offline.

The standard benchmark (``data/published/README.md``) is 11 torchvision
ImageNet models fine-tuned on 11 targets, judged by scipy's ``weightedtau``
(defaults) per target, then averaged. Two baselines need no target data and
no weights, only torchvision's weights metadata: ranking the models by their
ImageNet top-1 accuracy (``source_accuracy``) and by their number of
parameters (``parameter_count``). This module scores them through the
registry's methods and judges them with the summary, against the published
accuracies as ground truth (``finetune.ground_truth: published``), exactly as
the workflow would; nothing is downloaded.

    python -m zooselect.standard_baselines [--accuracies CSV] [--published-taus CSV]

prints the weighted tau per target and the mean (0.654 for source accuracy,
0.578 for parameter count), beside the methods' published means. The
default tables are the repository's copies in ``data/published/`` (found
from a source checkout; pass the paths otherwise).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .ground_truth import ground_truth_label, published_accuracies, read_published
from .models.expert_attributes import torchvision_source_accuracy
from .selection import score_zoo
from .summary import build_summary

STANDARD_MODELS = (
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "densenet121",
    "densenet169",
    "densenet201",
    "mnasnet1_0",
    "mobilenet_v2",
    "googlenet",
    "inception_v3",
)
STANDARD_WEIGHTS = "IMAGENET1K_V1"
BASELINE_METHODS = ("source_accuracy", "parameter_count")
#: Gains are measured against it; the rank metrics (weighted tau) do not depend on it.
BASELINE_EXPERT = "resnet50"
ZOO = "standard"
PUBLISHED_DIR = Path(__file__).resolve().parents[2] / "data" / "published"
PUBLISHED_ACCURACIES = PUBLISHED_DIR / "standard_finetune_accuracy.csv"
PUBLISHED_TAUS = PUBLISHED_DIR / "standard_weighted_tau.csv"
REGIME = "full"


def standard_caches(models: Sequence[str] = STANDARD_MODELS, weights: str = STANDARD_WEIGHTS) -> list[dict]:
    """One cache per model holding only the attributes the baselines read, from torchvision's
    metadata of `weights`: ImageNet-1K acc@1 / 100 and ``num_params`` (no weights downloaded)."""
    from .models.torchvision_models import resolve_weights

    caches = []
    for model in models:
        meta = resolve_weights(model, weights).meta
        attrs = {
            "expert": model,
            "source_accuracy": torchvision_source_accuracy(model, weights),
            "parameter_count": int(meta["num_params"]),
        }
        caches.append({"expert": model, "attrs": attrs})
    return caches


def standard_baselines(
    accuracies: str | Path = PUBLISHED_ACCURACIES, methods: Sequence[str] = BASELINE_METHODS
) -> pd.DataFrame:
    """The summary of `methods` on the standard benchmark: one row per (target, method), then the
    mean rows (``target == "mean"``), judged against the published `accuracies`."""
    targets = list(dict.fromkeys(read_published(accuracies, STANDARD_MODELS).target))
    truth = published_accuracies(accuracies, STANDARD_MODELS, targets)
    rows = score_zoo(standard_caches(), methods)
    scores = pd.DataFrame(
        [
            {"target": target, "regime": REGIME, "method": method, **row}
            for target in targets
            for method, method_rows in rows.items()
            for row in method_rows
        ]
    )
    no_caches = pd.DataFrame(columns=["target", "regime", "expert", "seconds"])
    return build_summary(
        scores,
        truth,
        no_caches,
        baseline=BASELINE_EXPERT,
        zoos={ZOO: list(STANDARD_MODELS)},
        ground_truth=ground_truth_label("published", accuracies),
    )


def weighted_tau_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Weighted tau with targets as rows (in the summary's order, the mean last) and methods as columns."""
    table = summary.pivot(index="target", columns="method", values="weighted_tau")
    order = [target for target in dict.fromkeys(summary.target) if target != "mean"] + ["mean"]
    return table.reindex(index=order)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zooselect.standard_baselines",
        description="Weighted tau of the target-agnostic baselines on the standard benchmark (offline).",
    )
    parser.add_argument("--accuracies", type=Path, default=PUBLISHED_ACCURACIES, help="published fine-tuned accuracies")
    parser.add_argument("--published-taus", type=Path, default=PUBLISHED_TAUS, help="published weighted tau per method")
    args = parser.parse_args(argv)
    table = weighted_tau_table(standard_baselines(args.accuracies))
    print(f"weighted tau against {args.accuracies.name} (scipy.stats.weightedtau, defaults):")
    print(table.round(3).to_string())
    if args.published_taus.is_file():
        published = pd.read_csv(args.published_taus).groupby("method", sort=True).weighted_tau.mean()
        print("\nmean weighted tau, published methods:")
        print(published.round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One zoo's selection figures: top-3 gain per target and method, and each method's quality."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import pandas as pd

from zooselect.figures import plot_method_quality, plot_topk_gain
from zooselect.runtime import start_job

log = start_job(snakemake)
zoo = snakemake.wildcards.zoo
summary = pd.read_csv(snakemake.input.summary)
plot_topk_gain(summary, snakemake.output.topk_gain, zoo=zoo, k=3)
# Error bars from the stability draws, where the workflow makes them.
stability = pd.read_csv(snakemake.input.stability) if "stability" in snakemake.input.keys() else None
plot_method_quality(
    summary, snakemake.output.method_quality, zoo=zoo, stability=stability, metric=snakemake.params.metric
)
log.info("wrote %s and %s", snakemake.output.topk_gain, snakemake.output.method_quality)

"""Ground-truth figures (every expert's gain, accuracy against shots), the runtime table and its ratios."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import pandas as pd

from zooselect.costs import runtime_ratios
from zooselect.figure_data import runtime_table
from zooselect.figures import plot_accuracy_vs_shots, plot_finetune_gains
from zooselect.ground_truth import read_accuracies
from zooselect.io import write_csv
from zooselect.runtime import start_job
from zooselect.summary import read_scores

log = start_job(snakemake)
params = snakemake.params
summary = pd.read_csv(snakemake.input.summary)
# The published table was checked against the config at start-up and by the summary.
accuracies = read_accuracies(snakemake.input.get("finetune"), snakemake.input.get("published"))
scores = read_scores(snakemake.input.scores)
plot_finetune_gains(accuracies, params.baseline, snakemake.output.finetune_gains)
# Chosen within the single-domain zoo, as the summary judges it.
plot_accuracy_vs_shots(
    accuracies, scores, params.baseline, params.method, snakemake.output.accuracy_vs_shots,
    experts=list(params.experts),
)
table = runtime_table(summary)
write_csv(snakemake.output.runtime, table)
log.info("runtime table:\n%s", table.to_string(index=False))
ratios = runtime_ratios(table)
write_csv(snakemake.output.runtime_ratios, ratios)
log.info("runtime ratios (selection / brute force, / LFC's; the paper's beside):\n%s", ratios.to_string(index=False))

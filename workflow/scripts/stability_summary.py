"""Selection metrics per stability draw, and their mean, spread and rank consistency."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import pandas as pd

from zooselect.ground_truth import read_accuracies
from zooselect.io import write_csv
from zooselect.paths import trailing_wildcards
from zooselect.runtime import start_job
from zooselect.stability import per_draw_summary, stability_table

log = start_job(snakemake)
frames = []
for path in snakemake.input.stability:
    frames.append(pd.read_csv(path).assign(**trailing_wildcards(path, ("target", "regime"))))
scores = pd.concat(frames, ignore_index=True)
# The published table was checked against the config at start-up and by the summary.
accuracies = read_accuracies(snakemake.input.get("finetune"), snakemake.input.get("published"))
per_draw = per_draw_summary(scores, accuracies, snakemake.params.baseline, snakemake.params.zoos)
table = stability_table(per_draw)
write_csv(snakemake.output.draws, per_draw)
write_csv(snakemake.output.table, table)
log.info("wrote %s and %s", snakemake.output.table, snakemake.output.draws)
log.info("mean rows:\n%s", table[table.target == "mean"].to_string(index=False))

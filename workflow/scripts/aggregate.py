"""Judge every method's ranking against the fine-tuning ground truth: results/summary.csv."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import pandas as pd

from zooselect.cache import read_attrs
from zooselect.io import write_csv
from zooselect.runtime import start_job
from zooselect.summary import build_summary, expert_accuracies, read_finetune, read_scores

log = start_job(snakemake)
scores = read_scores(snakemake.input.scores)
accuracies = expert_accuracies(read_finetune(snakemake.input.finetune))
cache_seconds = pd.DataFrame(
    [
        {key: read_attrs(path)[key] for key in ("target", "regime", "expert", "seconds")}
        for path in snakemake.input.caches
    ]
)
summary = build_summary(scores, accuracies, cache_seconds, snakemake.params.baseline, snakemake.params.zoos)
write_csv(snakemake.output.summary, summary)
log.info("wrote %s (%d rows)", snakemake.output.summary, len(summary))
means = summary[summary.target == "mean"]
log.info("mean rows:\n%s", means.to_string(index=False))

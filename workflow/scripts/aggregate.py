"""Judge every method's ranking against the ground truth (fine-tuning, or a published table): results/summary.csv."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import pandas as pd

from zooselect.cache import read_attrs
from zooselect.costs import charge_job_records
from zooselect.ground_truth import read_accuracies
from zooselect.io import write_csv
from zooselect.runtime import start_job
from zooselect.summary import build_summary, read_scores

log = start_job(snakemake)
# Costs are the jobs' benchmark records (wall time, process start included),
# shared among a job's tasks in proportion to the seconds each task measured.
scores = charge_job_records(read_scores(snakemake.input.scores), snakemake.input.score_records, "method")
params = snakemake.params
experts = [expert for members in params.zoos.values() for expert in members]
accuracies = read_accuracies(
    snakemake.input.get("finetune"), snakemake.input.get("published"), experts, params.targets
)
log.info("ground truth: %s", params.ground_truth)
if "finetune_records" in snakemake.input.keys():  # a published table's costs were not measured here
    accuracies = charge_job_records(accuracies, snakemake.input.finetune_records)
cache_seconds = charge_job_records(
    pd.DataFrame(
        [
            {key: read_attrs(path)[key] for key in ("target", "regime", "expert", "seconds")}
            for path in snakemake.input.caches
        ]
    ),
    snakemake.input.cache_records,
)
summary = build_summary(scores, accuracies, cache_seconds, params.baseline, params.zoos, params.ground_truth)
write_csv(snakemake.output.summary, summary)
log.info("wrote %s (%d rows)", snakemake.output.summary, len(summary))
means = summary[summary.target == "mean"]
log.info("mean rows:\n%s", means.to_string(index=False))

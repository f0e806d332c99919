"""Judge every method's ranking against the ground truth (fine-tuning, or a published table): results/summary.csv."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

from zooselect.costs import (
    SCORE_OVERHEAD,
    charge_job_records,
    input_costs,
    job_overheads,
    probe_costs,
    read_cache_work,
    read_probe_work,
    read_source_means_work,
)
from zooselect.ground_truth import read_accuracies
from zooselect.io import write_csv
from zooselect.runtime import start_job
from zooselect.summary import build_summary, read_scores

log = start_job(snakemake)
inputs = snakemake.input
params = snakemake.params
# Selection is charged what each method consumes, from the seconds the outputs
# recorded; the rest of each job's benchmark record is its overhead (zooselect.costs).
scores = read_scores(inputs.scores)
scores[SCORE_OVERHEAD] = job_overheads(scores, inputs.score_records, "method")
experts = [expert for members in params.zoos.values() for expert in members]
accuracies = read_accuracies(inputs.get("finetune"), inputs.get("published"), experts, params.targets)
log.info("ground truth: %s", params.ground_truth)
# Fine-tuning is charged its jobs' wall time, shared among a job's tasks in
# proportion to the seconds each task measured.
if "finetune_records" in inputs.keys():  # a published table's costs were not measured here
    accuracies = charge_job_records(accuracies, inputs.finetune_records)
source_means = read_source_means_work(inputs.source_means) if "source_means" in inputs.keys() else None
extracted = input_costs(
    read_cache_work(inputs.caches),
    inputs.cache_records,
    source_means,
    inputs.get("source_means_records"),  # None: the experts' cache jobs wrote them
)
probes = probe_costs(read_probe_work(inputs.probes), inputs.probe_records) if "probes" in inputs.keys() else None
summary = build_summary(
    scores, accuracies, extracted, params.baseline, params.zoos, params.ground_truth, probe_costs=probes
)
write_csv(snakemake.output.summary, summary)
log.info("wrote %s (%d rows)", snakemake.output.summary, len(summary))
means = summary[summary.target == "mean"]
log.info("mean rows:\n%s", means.to_string(index=False))

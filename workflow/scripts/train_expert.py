"""Train one expert (single-domain or generic) and save its checkpoint and metrics."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

from zooselect.data import load_dataset
from zooselect.experts import merge_sources, train_expert
from zooselect.io import write_json
from zooselect.models import save_checkpoint
from zooselect.runtime import Stopwatch, job_device, loader_workers, resume_file, start_job
from zooselect.seeding import derive_seed
from zooselect.training import Resume, checkpoint_every, epochs_to_steps, schedule_from_config

log = start_job(snakemake, uses_torch=True)
watch = Stopwatch()
expert = snakemake.params.expert

log.info("reading %s", ", ".join(snakemake.input.datasets))
datasets = [load_dataset(path) for path in snakemake.input.datasets]
dataset = merge_sources(expert["sources"], datasets)
schedule = schedule_from_config(snakemake.params.schedule, len(dataset.y_train))
# Saved every epoch outside the outputs: a killed job continues from there.
resume = Resume(
    resume_file(snakemake.output.checkpoint),
    checkpoint_every(epochs_to_steps(1, len(dataset.y_train), schedule.batch_size)),
)

model, metrics = train_expert(
    arch=snakemake.wildcards.arch,
    arch_options=snakemake.params.arch_options,
    dataset=dataset,
    schedule=schedule,
    seed=derive_seed(snakemake.params.seed, expert["name"]),
    init_checkpoint=snakemake.input.get("init"),
    description=expert["name"],
    device=job_device(),
    resume=resume,
    workers=loader_workers(snakemake),
)
metrics.update(expert)
save_checkpoint(
    snakemake.output.checkpoint,
    model,
    snakemake.wildcards.arch,
    snakemake.params.arch_options,
    dataset.classes,
    metrics,
)
write_json(snakemake.output.metrics, metrics)
resume.clear()
log.info("wrote %s in %.1f s", snakemake.output.checkpoint, watch.seconds)

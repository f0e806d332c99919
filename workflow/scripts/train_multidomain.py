"""Train one variant of the multi-domain expert on every source and save one
ordinary ResNet checkpoint per zoo entry (a domain's parameters)."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

from zooselect.data import load_dataset
from zooselect.io import write_json
from zooselect.models import save_checkpoint
from zooselect.models.multidomain_resnet import export_entries
from zooselect.multidomain_training import entry_metrics, train_multidomain
from zooselect.runtime import Stopwatch, job_device, loader_workers, resume_file, start_job
from zooselect.seeding import derive_seed
from zooselect.training import Resume, checkpoint_every, schedule_from_config

log = start_job(snakemake, uses_torch=True)
watch = Stopwatch()
params = snakemake.params
variant = params.variant
log.info("reading %s", ", ".join(snakemake.input.datasets))
datasets = {source: load_dataset(path) for source, path in zip(params.sources, snakemake.input.datasets)}

schedule = schedule_from_config(params.schedule, params.images_per_domain * len(datasets))
# Saved every epoch (every domain's draw) outside the outputs: a killed job continues from there.
batches_per_epoch = len(datasets) * -(-params.images_per_domain // schedule.batch_size)
resume = Resume(resume_file(snakemake.output.metrics), checkpoint_every(batches_per_epoch))
model, metrics = train_multidomain(
    variant,
    params.arch_options,
    datasets,
    schedule,
    images_per_domain=params.images_per_domain,
    seed=derive_seed(params.seed, "multidomain", variant),
    description=f"multi-domain {variant}",
    device=job_device(),
    resume=resume,
    workers=loader_workers(snakemake),
)
entries = export_entries(model, {source: dataset.classes for source, dataset in datasets.items()})
for entry, path in zip(params.entries, snakemake.output.checkpoints):
    network, options, classes = entries[entry]
    save_checkpoint(path, network, "resnet", options, classes, {"name": entry, **entry_metrics(metrics, entry)})
    log.info("wrote %s", path)
write_json(snakemake.output.metrics, {"entries": list(params.entries), **metrics})
resume.clear()
log.info("multi-domain %s: %d entries in %.1f s", variant, len(params.entries), watch.seconds)

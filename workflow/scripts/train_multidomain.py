"""Train one variant of the multi-domain expert on every source and save one
ordinary ResNet checkpoint per zoo entry (a domain's parameters)."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

from zooselect.data import load_dataset
from zooselect.io import write_json
from zooselect.models import save_checkpoint
from zooselect.models.multidomain import export_entries
from zooselect.multidomain import entry_metrics, train_multidomain
from zooselect.runtime import Stopwatch, start_job
from zooselect.seeding import derive_seed
from zooselect.training import schedule_from_config

log = start_job(snakemake, uses_torch=True)
watch = Stopwatch()
params = snakemake.params
variant = params.variant
log.info("reading %s", ", ".join(snakemake.input.datasets))
datasets = {source: load_dataset(path) for source, path in zip(params.sources, snakemake.input.datasets)}

model, metrics = train_multidomain(
    variant,
    params.arch_options,
    datasets,
    schedule_from_config(params.schedule, params.images_per_domain * len(datasets)),
    images_per_domain=params.images_per_domain,
    seed=derive_seed(params.seed, "multidomain", variant),
    description=f"multi-domain {variant}",
)
entries = export_entries(model, {source: dataset.classes for source, dataset in datasets.items()})
for entry, path in zip(params.entries, snakemake.output.checkpoints):
    network, options, classes = entries[entry]
    save_checkpoint(path, network, "resnet", options, classes, {"name": entry, **entry_metrics(metrics, entry)})
    log.info("wrote %s", path)
write_json(snakemake.output.metrics, {"entries": list(params.entries), **metrics})
log.info("multi-domain %s: %d entries in %.1f s", variant, len(params.entries), watch.seconds)

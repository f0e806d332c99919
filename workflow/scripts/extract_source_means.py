"""Class-mean features of an expert on its own source training images (for Domain Similarity)."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import torch

from zooselect.cache import write_arrays
from zooselect.data import load_dataset
from zooselect.experts import merge_sources
from zooselect.extraction import source_class_means
from zooselect.models import checkpoint_input, load_checkpoint
from zooselect.runtime import Stopwatch, job_device, loader_workers, start_job
from zooselect.seeding import derive_seed

log = start_job(snakemake, uses_torch=True)
expert = snakemake.wildcards.expert
dataset = merge_sources(
    snakemake.params.sources, [load_dataset(path) for path in snakemake.input.datasets]
)
model, info = load_checkpoint(snakemake.input.checkpoint)
model = model.to(device=job_device(), memory_format=torch.channels_last)
# Only the class means' computation is timed (what Domain Similarity is charged); reading
# the datasets and the checkpoint is the job's overhead (zooselect.costs).
watch = Stopwatch()
arrays, images = source_class_means(
    model,
    dataset,
    snakemake.params.images_per_class,
    derive_seed(snakemake.params.seed, "source_means", expert),
    checkpoint_input(info),
    loader_workers(snakemake),
)
write_arrays(
    snakemake.output.source_means,
    arrays,
    {"expert": expert, "images_per_class": snakemake.params.images_per_class, "seconds": watch.seconds},
)
log.info("%s: %d source classes from %d images in %.1f s", expert, len(arrays["source_means"]), images, watch.seconds)

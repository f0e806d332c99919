"""Class-mean features of an expert on its own source training images (for Domain Similarity)."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import numpy as np
import torch

from zooselect.cache import class_means, write_arrays
from zooselect.data import load_dataset, sample_per_class
from zooselect.experts import merge_sources
from zooselect.models import load_checkpoint
from zooselect.runtime import Stopwatch, start_job
from zooselect.seeding import derive_seed
from zooselect.training import forward_features, to_tensor

log = start_job(snakemake, uses_torch=True)
watch = Stopwatch()
expert = snakemake.wildcards.expert
dataset = merge_sources(
    snakemake.params.sources, [load_dataset(path) for path in snakemake.input.datasets]
)
model, _ = load_checkpoint(snakemake.input.checkpoint)
model = model.to(memory_format=torch.channels_last)
chosen = sample_per_class(
    dataset.y_train,
    snakemake.params.images_per_class,
    derive_seed(snakemake.params.seed, "source_means", expert),
)
features, _ = forward_features(model, to_tensor(dataset.x_train[chosen]))
means, _ = class_means(features, dataset.y_train[chosen], dataset.num_classes)
# Weights are the classes' full image counts (Cui et al.), the means come from the sample.
counts = np.bincount(dataset.y_train, minlength=dataset.num_classes)
write_arrays(
    snakemake.output[0],
    {"source_means": means, "source_counts": counts},
    {"expert": expert, "images_per_class": snakemake.params.images_per_class, "seconds": watch.seconds},
)
log.info("%s: %d source classes from %d images in %.1f s", expert, len(means), len(chosen), watch.seconds)

"""Build one dataset (source or target) from its kind and options, and save it."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

from zooselect.data import build_dataset, save_dataset
from zooselect.runtime import Stopwatch, start_job
from zooselect.seeding import derive_seed

log = start_job(snakemake)
watch = Stopwatch()
spec = snakemake.params.spec
name = snakemake.wildcards.dataset

dataset = build_dataset(spec["kind"], derive_seed(snakemake.params.seed, name), spec["options"])
save_dataset(snakemake.output.dataset, dataset)
log.info(
    "%s (%s): %d train / %d test images, %d classes, in %.1f s",
    name,
    spec["kind"],
    len(dataset.y_train),
    len(dataset.y_test),
    dataset.num_classes,
    watch.seconds,
)

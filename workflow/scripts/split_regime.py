"""Draw the training images of one (target, regime): all of them, or N per class."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import numpy as np

from zooselect.data import fewshot_indices, load_dataset
from zooselect.io import write_json
from zooselect.runtime import start_job
from zooselect.seeding import derive_seed

log = start_job(snakemake)
target, regime = snakemake.wildcards.target, snakemake.wildcards.regime
shots = snakemake.params.shots
labels = load_dataset(snakemake.input.dataset).y_train

if shots == 0:
    indices = np.arange(len(labels))
else:
    indices = fewshot_indices(labels, shots, derive_seed(snakemake.params.seed, target, regime))
write_json(
    snakemake.output.split,
    {"target": target, "regime": regime, "shots": shots, "train_indices": indices.tolist()},
)
log.info("%s/%s: %d training images", target, regime, len(indices))

"""Train RSA's probe network on one (target, regime)'s selection sample; save its features there
(and on the target's selection pool, for stability draws)."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import torch

from zooselect.cache import sample_for_selection, write_arrays
from zooselect.data import load_dataset
from zooselect.io import read_json
from zooselect.models import create_model
from zooselect.runtime import Stopwatch, job_device, start_job
from zooselect.training import forward_features, schedule_from_config, to_tensor, train

log = start_job(snakemake, uses_torch=True)
watch = Stopwatch()
target, regime = snakemake.wildcards.target, snakemake.wildcards.regime
dataset = load_dataset(snakemake.input.dataset)
indices, seed = sample_for_selection(
    dataset.y_train,
    read_json(snakemake.input.split),
    snakemake.params.images_per_class,
    snakemake.params.seed,
    target,
    regime,
)
images, labels = to_tensor(dataset.x_train[indices]), torch.from_numpy(dataset.y_train[indices])

torch.manual_seed(seed)
probe = create_model(snakemake.params.arch, dataset.num_classes, **snakemake.params.arch_options)
probe = probe.to(device=job_device(), memory_format=torch.channels_last)
train(probe, images, labels, schedule_from_config(snakemake.params.schedule, len(labels)), seed, f"probe {target}/{regime}")
features, _ = forward_features(probe, images)
arrays = {"probe_features": features, "indices": indices}
if "pool_split" in snakemake.input.keys():
    # Stability draws come from the full regime's selection sample (the pool).
    pool, _ = sample_for_selection(
        dataset.y_train,
        read_json(snakemake.input.pool_split),
        snakemake.params.images_per_class,
        snakemake.params.seed,
        target,
        "full",
    )
    arrays["pool_indices"] = pool
    arrays["pool_probe_features"], _ = forward_features(probe, to_tensor(dataset.x_train[pool]))
write_arrays(
    snakemake.output[0],
    arrays,
    {"target": target, "regime": regime, "seed": seed, "seconds": watch.seconds},
)
log.info("probe on %s/%s: %d images, %.1f s", target, regime, len(indices), watch.seconds)

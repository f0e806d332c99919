"""Train RSA's probe network on one (target, regime)'s selection sample; save its features there
(and on the target's selection pool, for stability draws)."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import torch

from zooselect.cache import sample_for_selection, write_arrays
from zooselect.data import load_dataset
from zooselect.data.stream import Images
from zooselect.extraction import predict
from zooselect.io import read_json
from zooselect.models import create_model
from zooselect.models.inputs import benchmark_input
from zooselect.runtime import Stopwatch, job_device, loader_workers, start_job
from zooselect.training import schedule_from_config, train

log = start_job(snakemake, uses_torch=True)
workers = loader_workers(snakemake)
target, regime = snakemake.wildcards.target, snakemake.wildcards.regime
dataset = load_dataset(snakemake.input.dataset)
spec = benchmark_input(dataset.image_size)


def selection(split_path, regime):
    return sample_for_selection(
        dataset.y_train, read_json(split_path), snakemake.params.images_per_class, snakemake.params.seed, target, regime
    )


indices, seed = selection(snakemake.input.split, regime)
images = Images(dataset.source("train"), indices)

# The work is timed part by part (what RSA is charged: training and the features on
# the selection sample; the stability pool's features are not selection); reading the
# dataset and writing the file are the job's overhead (zooselect.costs).
watch = Stopwatch()
torch.manual_seed(seed)
probe = create_model(snakemake.params.arch, dataset.num_classes, **snakemake.params.arch_options)
probe = probe.to(device=job_device(), memory_format=torch.channels_last)
schedule = schedule_from_config(snakemake.params.schedule, len(images))
train(probe, images, schedule, seed, f"probe {target}/{regime}", spec=spec, workers=workers)
seconds = {"train_seconds": watch.seconds}
watch = Stopwatch()
features, _ = predict(probe, images, spec, workers)
seconds["feature_seconds"] = watch.seconds
arrays = {"probe_features": features, "indices": indices}
seconds["pool_feature_seconds"] = 0.0
if "pool_split" in snakemake.input.keys():
    # Stability draws come from the full regime's selection sample (the pool).
    watch = Stopwatch()
    pool, _ = selection(snakemake.input.pool_split, "full")
    arrays["pool_indices"] = pool
    arrays["pool_probe_features"], _ = predict(probe, Images(dataset.source("train"), pool), spec, workers)
    seconds["pool_feature_seconds"] = watch.seconds
seconds["seconds"] = sum(seconds.values())  # all the job's work
write_arrays(
    snakemake.output.probe,
    arrays,
    {"target": target, "regime": regime, "seed": seed, **seconds},
)
log.info(
    "probe on %s/%s: %d images, %s",
    target, regime, len(indices), ", ".join(f"{name} {value:.2f}" for name, value in seconds.items()),
)

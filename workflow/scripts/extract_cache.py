"""Extract one expert's features and source-head probabilities on a target sample to HDF5."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import torch

from zooselect.cache import sample_for_selection, write_cache
from zooselect.data import load_dataset
from zooselect.gradients import projected_gradients
from zooselect.io import read_json
from zooselect.models import load_checkpoint
from zooselect.runtime import Stopwatch, start_job
from zooselect.seeding import derive_seed
from zooselect.training import forward_features, to_tensor

log = start_job(snakemake, uses_torch=True)
watch = Stopwatch()
target, regime, expert = (snakemake.wildcards[k] for k in ("target", "regime", "expert"))
dataset = load_dataset(snakemake.input.dataset)
indices, seed = sample_for_selection(
    dataset.y_train,
    read_json(snakemake.input.split),
    snakemake.params.images_per_class,
    snakemake.params.seed,
    target,
    regime,
)
model, info = load_checkpoint(snakemake.input.checkpoint)
model = model.to(memory_format=torch.channels_last)
images, labels = to_tensor(dataset.x_train[indices]), dataset.y_train[indices]
features, probs = forward_features(model, images)
gradients = None
if snakemake.params.gradient_dim:
    gradients = projected_gradients(
        model,
        images,
        labels,
        dataset.num_classes,
        dim=snakemake.params.gradient_dim,
        ridge=snakemake.params.gradient_ridge,
        seed=derive_seed(snakemake.params.seed, "projection", target, regime, expert),
    )
write_cache(
    snakemake.output[0],
    features=features,
    probs=probs,
    labels=labels,
    indices=indices,
    gradients=gradients,
    attrs={
        "expert": expert,
        "target": target,
        "regime": regime,
        "images_per_class": snakemake.params.images_per_class,
        "seed": seed,
        "gradient_dim": snakemake.params.gradient_dim,
        "gradient_ridge": snakemake.params.gradient_ridge,
        "seconds": watch.seconds,
    },
)
log.info("%s on %s/%s: %d images, %d features, in %.2f s", expert, target, regime, len(indices), features.shape[1], watch.seconds)

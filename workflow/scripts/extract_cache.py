"""Extract one expert's caches: features, source-head probabilities and projected
gradients on the selection sample of each of the job's (target, regime) tasks.

The expert is one the workflow trained (its checkpoint) or a given zoo entry
(params.given), loaded as ``zooselect rank`` loads it, with its own
preprocessing. A job that does all of an expert's tasks (jobs.granularity:
expert) also writes the expert's source class means where a method needs
them, which would otherwise cost a job (and a process start) of their own."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import torch

from zooselect.cache import sample_for_selection, write_arrays
from zooselect.data import load_dataset
from zooselect.data.stream import Images
from zooselect.experts import merge_sources
from zooselect.extraction import extract, source_class_means, write_extraction
from zooselect.gradients import supports_gradients
from zooselect.io import read_json
from zooselect.models.expert_attributes import expert_attributes
from zooselect.runtime import Stopwatch, expert_job_tasks, job_device, loader_workers, start_job
from zooselect.seeding import derive_seed
from zooselect.userzoo import load_zoo_expert

log = start_job(snakemake, uses_torch=True)
params = snakemake.params
expert = snakemake.wildcards.expert
workers = loader_workers(snakemake)
model, spec, info = load_zoo_expert(expert, snakemake.input.get("checkpoint"), params.given, params.seed)
if params.gradient_dim and not supports_gradients(model):
    raise ValueError(
        f"method 'lgc' needs per-sample gradients of the last convolution, which expert '{expert}' "
        "does not provide (torchvision's ResNets and DenseNets and zooselect's models do); leave lgc out"
    )
model = model.to(device=job_device(), memory_format=torch.channels_last)
attributes = expert_attributes(model, info)  # what the target-agnostic baselines score
log.info("%s: input %s", expert, spec.describe())

for target, regime, dataset, split_path, output in expert_job_tasks(snakemake, snakemake.output.caches):
    indices, seed = sample_for_selection(
        dataset.y_train, read_json(split_path), params.images_per_class, params.seed, target, regime
    )
    extraction = extract(
        model,
        Images(dataset.source("train"), indices),
        dataset.num_classes,
        spec,
        gradient_dim=params.gradient_dim,
        gradient_ridge=params.gradient_ridge,
        gradient_seed=derive_seed(params.seed, "projection", target, regime, expert),
        workers=workers,
    )
    write_extraction(
        output,
        extraction,
        attrs=dict(
            expert=expert,
            target=target,
            regime=regime,
            images_per_class=params.images_per_class,
            seed=seed,
            gradient_dim=params.gradient_dim,
            gradient_ridge=params.gradient_ridge,
            input=spec.describe(),
            **attributes,
        ),
    )
    log.info(
        "%s on %s/%s: %d images, %d features, in %s",
        expert, target, regime, len(indices), extraction.features.shape[1],
        ", ".join(f"{part} {s:.2f} s" for part, s in extraction.seconds.items()),
    )

if "source_means" in snakemake.output.keys():
    sources = merge_sources(params.sources, [load_dataset(path) for path in snakemake.input.source_datasets])
    # Only the class means' computation is timed (what Domain Similarity is charged);
    # reading the source datasets is the job's overhead (zooselect.costs).
    watch = Stopwatch()
    arrays, images = source_class_means(
        model, sources, params.source_images_per_class, derive_seed(params.seed, "source_means", expert), spec, workers
    )
    write_arrays(
        snakemake.output.source_means,
        arrays,
        {"expert": expert, "images_per_class": params.source_images_per_class, "seconds": watch.seconds},
    )
    log.info("%s: %d source classes from %d images in %.1f s", expert, len(arrays["source_means"]), images, watch.seconds)

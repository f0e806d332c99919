"""Fine-tune one expert on each of the job's (target, regime) tasks at every learning rate of the grid.

The expert is one the workflow trained (its checkpoint) or a given zoo entry (params.given)."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import numpy as np
import torch

from zooselect.data.stream import Images
from zooselect.io import read_json, write_rows
from zooselect.runtime import expert_job_tasks, job_device, loader_workers, resume_file, start_job
from zooselect.seeding import derive_seed
from zooselect.training import FINETUNE_CSV_COLUMNS, Resume, Schedule, checkpoint_every, epochs_to_steps, finetune
from zooselect.userzoo import load_zoo_expert

log = start_job(snakemake, uses_torch=True)
params = snakemake.params
expert = snakemake.wildcards.expert
workers = loader_workers(snakemake)
pretrained, spec, _ = load_zoo_expert(expert, snakemake.input.get("checkpoint"), params.given, params.seed)
pretrained = pretrained.to(device=job_device(), memory_format=torch.channels_last)

for target, regime, dataset, split_path, output in expert_job_tasks(snakemake, snakemake.output.results):
    indices = np.asarray(read_json(split_path)["train_indices"])
    train_images = Images(dataset.source("train"), indices)
    test_images = Images(dataset.source("test"))
    rows = []
    steps_per_epoch = epochs_to_steps(1, len(indices), params.batch_size)
    for lr in params.lrs:
        # A killed job resumes the learning rate it was at from its last epoch.
        resume = Resume(resume_file(output, f".lr{lr:g}"), checkpoint_every(steps_per_epoch))
        schedule = Schedule(
            steps=epochs_to_steps(params.epochs[regime], len(indices), params.batch_size),
            batch_size=params.batch_size,
            lr=lr,
            momentum=params.momentum,
            weight_decay=params.weight_decay,
            milestones=tuple(params.milestones),
        )
        result = finetune(
            pretrained,
            train_images,
            test_images,
            dataset.num_classes,
            schedule,
            seed=derive_seed(params.seed, "finetune", target, regime, expert, lr),
            description=f"{expert} on {target}/{regime} lr={lr}",
            resume=resume,
            spec=spec,
            workers=workers,
        )
        resume.clear()
        log.info("%s/%s lr %g: test accuracy %.4f (%.1f s)", target, regime, lr, result["test_accuracy"], result["seconds"])
        rows.append({"expert": expert, "lr": lr, **result})
    write_rows(output, rows, FINETUNE_CSV_COLUMNS)

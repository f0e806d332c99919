"""Fine-tune one expert on one (target, regime) at every learning rate of the grid."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import numpy as np
import torch

from zooselect.data import load_dataset
from zooselect.io import read_json, write_rows
from zooselect.models import load_checkpoint
from zooselect.runtime import start_job
from zooselect.seeding import derive_seed
from zooselect.training import Schedule, epochs_to_steps, finetune, to_tensor

log = start_job(snakemake, uses_torch=True)
target, regime, expert = (snakemake.wildcards[k] for k in ("target", "regime", "expert"))
params = snakemake.params
dataset = load_dataset(snakemake.input.dataset)
indices = np.asarray(read_json(snakemake.input.split)["train_indices"])
x_train, y_train = to_tensor(dataset.x_train[indices]), torch.from_numpy(dataset.y_train[indices])
x_test, y_test = to_tensor(dataset.x_test), torch.from_numpy(dataset.y_test)
pretrained, _ = load_checkpoint(snakemake.input.checkpoint)
pretrained = pretrained.to(memory_format=torch.channels_last)

rows = []
for lr in params.lrs:
    schedule = Schedule(
        steps=epochs_to_steps(params.epochs, len(indices), params.batch_size),
        batch_size=params.batch_size,
        lr=lr,
        momentum=params.momentum,
        weight_decay=params.weight_decay,
        milestones=tuple(params.milestones),
    )
    result = finetune(
        pretrained,
        x_train,
        y_train,
        x_test,
        y_test,
        dataset.num_classes,
        schedule,
        seed=derive_seed(params.seed, "finetune", target, regime, expert, lr),
        description=f"{expert} on {target}/{regime} lr={lr}",
    )
    log.info("lr %g: test accuracy %.4f (%.1f s)", lr, result["test_accuracy"], result["seconds"])
    rows.append({"expert": expert, "lr": lr, **result})
write_rows(snakemake.output[0], rows, ["expert", "lr", "test_accuracy", "seconds", "train_loss"])

"""Per-sample gradients for LGC: torch.func (vmap over grad) against a Python loop.

Both compute, for each image, the gradient of the squared loss of a ridge
head w.r.t. the expert's last convolutional layer (zooselect.gradients), on
the same expert and the same images; the script checks they agree and
writes the times to benchmarks/results/per_sample_gradients.csv.

Usage (from the repository root, after `make run` so the experts exist;
random-weight experts and random images are used otherwise):

    .venv/bin/python benchmarks/per_sample_gradients.py [--images 256] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch

from zooselect.data import load_dataset
from zooselect.gradients import per_sample_gradients, per_sample_gradients_loop
from zooselect.models import create_model, load_checkpoint
from zooselect.training import to_tensor

ROOT = Path(__file__).resolve().parents[1]


def best_time(function, repeats: int) -> tuple[float, torch.Tensor]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target", default="dots")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dataset_path = ROOT / "results" / "data" / args.target / "dataset.npz"
    if dataset_path.exists():
        dataset = load_dataset(dataset_path)
        x = to_tensor(dataset.x_train[: args.images])
        y = torch.from_numpy(dataset.y_train[: args.images])
        source = f"{args.target} training images"
    else:
        x, y = torch.randn(args.images, 3, 32, 32), torch.arange(args.images) % 5
        source = "random images"
    num_classes = int(y.max()) + 1

    rows = []
    for arch in ("resnet", "densenet"):
        checkpoint = ROOT / "results" / "experts" / f"{arch}-generic.pt"
        if checkpoint.exists():
            model, _ = load_checkpoint(checkpoint)
            expert = checkpoint.stem
        else:
            model, expert = create_model(arch, 10), f"{arch} (random weights)"
        per_sample_gradients(model, x[:8], y[:8], num_classes)  # warm-up
        per_sample_gradients_loop(model, x[:8], y[:8], num_classes)
        fast_s, fast = best_time(lambda: per_sample_gradients(model, x, y, num_classes), args.repeats)
        loop_s, slow = best_time(lambda: per_sample_gradients_loop(model, x, y, num_classes), args.repeats)
        diff = float((fast - slow).abs().max() / slow.abs().max().clamp_min(1e-30))
        rows.append(
            {
                "expert": expert,
                "images": len(x),
                "parameters": fast.shape[1],
                "threads": args.threads,
                "vmap_seconds": round(fast_s, 4),
                "loop_seconds": round(loop_s, 4),
                "speedup": round(loop_s / fast_s, 2),
                "max_relative_difference": f"{diff:.1e}",
            }
        )
        print(rows[-1], flush=True)

    out = ROOT / "benchmarks" / "results" / "per_sample_gradients.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"images: {source}; wrote {out}")


if __name__ == "__main__":
    main()

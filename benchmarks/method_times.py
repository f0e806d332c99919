"""Every method's time to score the whole zoo on one real cache, against fine-tuning one expert.

Reads the default run's caches for one (target, regime) (plus RSA's probe and
the experts' source class means), scores every expert with every registered
method (or those given with --methods), and compares the time per method
with fine-tuning a single expert on the same (target, regime) (its
`benchmark:` record and the fine-tune CSV). Writes the timed methods' rows
to benchmarks/results/method_times.csv (replacing their earlier rows).

With --synthetic it needs no run: seeded stand-ins shaped like the default
run's font_digits/full caches (12 experts, 500 images of 10 classes, 64- or
90-d post-ReLU float32 features, a 10-class source head, 256-d gradients, a
probe and source class means) are scored instead, the fine-tuning columns
are left out, and the table goes to benchmarks/results/method_times_synthetic.csv.

Usage (from the repository root, after `make run`; or anywhere with --synthetic):

    .venv/bin/python benchmarks/method_times.py [--target font_digits] [--regime full] [--repeats 3]
    .venv/bin/python benchmarks/method_times.py --synthetic --methods knn,etran,ncti,mean_rank
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from zooselect.scores import METHODS, compute_score, get_method

ROOT = Path(__file__).resolve().parents[1]


def real_caches(results: Path, target: str, regime: str) -> list[dict]:
    """The default run's caches of one (target, regime), with the probe and the source class means."""
    from zooselect.cache import read_arrays, read_cache

    cache_paths = sorted((results / "cache" / target / regime).glob("*.h5"))
    if not cache_paths:
        raise SystemExit(f"no caches under results/cache/{target}/{regime}: run `make run` first (or --synthetic)")
    probe = read_arrays(results / "probes" / target / f"{regime}.h5")
    caches = []
    for path in cache_paths:
        cache = read_cache(path)
        cache["probe_features"] = probe["probe_features"]
        cache.update(read_arrays(results / "source_means" / f"{cache['expert']}.h5"))
        caches.append(cache)
    return caches


def synthetic_caches(seed: int = 0, experts: int = 12, images: int = 500, classes: int = 10) -> list[dict]:
    """Seeded stand-ins with the shapes and types of the default run's font_digits/full caches."""
    rng = np.random.default_rng(seed)
    labels = np.arange(images) % classes
    probe = rng.standard_normal((images, 32)).astype(np.float32)
    caches = []
    for e in range(experts):
        d = 64 if e % 2 == 0 else 90  # the ResNet's and the DenseNet's penultimate widths
        signal = 0.3 * (e % 4) * rng.standard_normal((classes, d))
        logits = rng.standard_normal((images, 10)) + (e % 3) * np.eye(classes, 10)[labels]
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        caches.append({
            "expert": f"expert{e:02d}", "labels": labels, "indices": np.arange(images),
            "features": np.maximum(rng.standard_normal((images, d)) + signal[labels], 0.0).astype(np.float32),
            "probs": probs.astype(np.float32),
            "gradients": rng.standard_normal((images, 256)).astype(np.float32),
            "probe_features": probe,
            "source_means": rng.standard_normal((10, d)).astype(np.float32),
            "source_counts": np.full(10, 50),
        })  # fmt: skip
    return caches


def _write(table: pd.DataFrame, out: Path) -> None:
    """Write `table`, replacing the rows of the same methods in an existing table at `out`."""
    if out.is_file():
        kept = pd.read_csv(out)
        table = pd.concat([kept[~kept.method.isin(table.method)], table], ignore_index=True)
    table.to_csv(out, index=False, float_format="%.4g")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="font_digits")
    parser.add_argument("--regime", default="full")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", type=lambda text: [m for m in text.split(",") if m], default=list(METHODS),
                        help="comma-separated methods to time (default: every registered method)")  # fmt: skip
    parser.add_argument("--synthetic", action="store_true", help="score seeded stand-in caches instead of a run's")
    args = parser.parse_args()
    methods = [get_method(name) for name in args.methods]  # unknown names stop here
    results = ROOT / "results"
    caches = synthetic_caches() if args.synthetic else real_caches(results, args.target, args.regime)

    rows = []
    for method in methods:
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            raw = {cache["expert"]: compute_score(method.name, cache) for cache in caches}
            if method.across_zoo is not None:
                method.across_zoo(raw)
            best = min(best, time.perf_counter() - start)
        rows.append({"method": method.name, "zoo_seconds": best})
        print(f"{method.name:20s} {best:8.4f} s for {len(caches)} experts", flush=True)

    table = pd.DataFrame(rows)
    table["experts"] = len(caches)
    table["images"] = len(caches[0]["labels"])
    out = ROOT / "benchmarks" / "results" / ("method_times_synthetic.csv" if args.synthetic else "method_times.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.synthetic:
        _write(table, out)
        print(f"\nwrote {out}")
        return
    finetune = pd.read_csv(results / "finetune" / args.target / args.regime / "resnet-generic.csv")
    record = pd.read_csv(results / "benchmarks" / "finetune" / args.target / args.regime / "resnet-generic.tsv", sep="\t")
    one_expert_training = float(finetune.seconds.sum())
    one_expert_job = float(record.s.iloc[0])
    table["finetune_one_expert_seconds"] = one_expert_training
    table["finetune_one_expert_job_seconds"] = one_expert_job
    table["ratio_to_one_finetune"] = table.zoo_seconds / one_expert_training
    _write(table, out)
    cheap = table[~table.method.isin(["lgc", "rsa"])]
    print(
        f"\nfine-tuning one expert ({args.target}/{args.regime}, all learning rates): "
        f"{one_expert_training:.2f} s of training+testing, {one_expert_job:.2f} s as a job"
    )
    print(f"all timed methods but LGC/RSA, whole zoo: {cheap.zoo_seconds.sum():.2f} s; wrote {out}")


if __name__ == "__main__":
    main()

"""Every method's time to score the whole zoo on one real cache, against fine-tuning one expert.

Reads the default run's caches for one (target, regime) (plus RSA's probe and
the experts' source class means), scores every expert with every registered
method, and compares the time per method with fine-tuning a single expert on
the same (target, regime) (its `benchmark:` record and the fine-tune CSV).
Writes benchmarks/results/method_times.csv.

Usage (from the repository root, after `make run`):

    .venv/bin/python benchmarks/method_times.py [--target font_digits] [--regime full] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from zooselect.cache import read_arrays, read_cache
from zooselect.scores import METHODS, compute_score

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="font_digits")
    parser.add_argument("--regime", default="full")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = ROOT / "results"
    cache_paths = sorted((results / "cache" / args.target / args.regime).glob("*.h5"))
    if not cache_paths:
        raise SystemExit(f"no caches under results/cache/{args.target}/{args.regime}: run `make run` first")
    probe = read_arrays(results / "probes" / args.target / f"{args.regime}.h5")
    caches = []
    for path in cache_paths:
        cache = read_cache(path)
        cache["probe_features"] = probe["probe_features"]
        cache.update(read_arrays(results / "source_means" / f"{cache['expert']}.h5"))
        caches.append(cache)

    rows = []
    for name, method in METHODS.items():
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            raw = {cache["expert"]: compute_score(name, cache) for cache in caches}
            if method.across_zoo is not None:
                method.across_zoo(raw)
            best = min(best, time.perf_counter() - start)
        rows.append({"method": name, "zoo_seconds": best})
        print(f"{name:18s} {best:8.3f} s for {len(caches)} experts", flush=True)

    finetune = pd.read_csv(results / "finetune" / args.target / args.regime / "resnet-generic.csv")
    record = pd.read_csv(results / "benchmarks" / "finetune" / args.target / args.regime / "resnet-generic.tsv", sep="\t")
    one_expert_training = float(finetune.seconds.sum())
    one_expert_job = float(record.s.iloc[0])
    table = pd.DataFrame(rows)
    table["experts"] = len(caches)
    table["images"] = len(caches[0]["labels"])
    table["finetune_one_expert_seconds"] = one_expert_training
    table["finetune_one_expert_job_seconds"] = one_expert_job
    table["ratio_to_one_finetune"] = table.zoo_seconds / one_expert_training
    out = ROOT / "benchmarks" / "results" / "method_times.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.4g")
    cheap = table[~table.method.isin(["lgc", "rsa"])]
    print(
        f"\nfine-tuning one expert ({args.target}/{args.regime}, all learning rates): "
        f"{one_expert_training:.2f} s of training+testing, {one_expert_job:.2f} s as a job"
    )
    print(f"all methods but LGC/RSA, whole zoo: {cheap.zoo_seconds.sum():.2f} s; wrote {out}")


if __name__ == "__main__":
    main()

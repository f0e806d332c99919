"""Speed of the exact fast LFC against its direct N x N definition.

Times `zooselect.scores.lfc` (five sums, O(N D min(N, D))) and
`zooselect.scores.lfc_pairwise` (Theta = F F^T and Y as N x N matrices,
np.corrcoef) on random float32 features with 10 classes, checks that they
agree to 1e-8 wherever the N x N form fits in memory, and writes the table
to benchmarks/results/lfc_speed.csv.

Usage (from the repository root):

    .venv/bin/python benchmarks/lfc_speed.py

The pairwise form is skipped (and the table says why) when its N x N
matrices would need more than --max-pairwise-gb of memory, or when its time,
extrapolated from the largest pairwise run so far as N^2 (D + c), would
exceed --max-pairwise-seconds.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from zooselect.scores import lfc, lfc_pairwise

SIZES_N = (1000, 5000, 20000)
SIZES_D = (64, 512, 2048)
LARGE_CASE = (50000, 2048)  # fast form only
N_CLASSES = 10
TOLERANCE = 1e-8
# lfc_pairwise holds Theta and Y (float64) plus corrcoef's stacked, centred copy:
# about this many N x N float64 arrays at its peak.
PAIRWISE_MATRICES = 3


def make_case(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, n, d])
    features = rng.standard_normal((n, d), dtype=np.float32)
    labels = rng.integers(0, N_CLASSES, size=n)
    features[:, : min(d, N_CLASSES)] += np.eye(N_CLASSES, dtype=np.float32)[labels][:, :d]
    return features, labels


def time_call(func, *args, min_total: float = 1.0, max_repeats: int = 5) -> tuple[float, float]:
    """Return (best seconds, value); repeats fast calls to beat timer noise."""
    best, total, repeats, value = float("inf"), 0.0, 0, float("nan")
    while repeats < max_repeats and (repeats == 0 or total < min_total):
        start = time.perf_counter()
        value = func(*args)
        elapsed = time.perf_counter() - start
        best, total, repeats = min(best, elapsed), total + elapsed, repeats + 1
    return best, value


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as handle:
            mem_kb = int(handle.readline().split()[1])
        memory = f"{mem_kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        memory = "unknown RAM"
    return (
        f"{cpu}; {os.cpu_count()} CPUs; {memory}; Python {platform.python_version()}; "
        f"numpy {np.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "lfc_speed.csv")
    parser.add_argument("--max-pairwise-gb", type=float, default=6.0)
    parser.add_argument("--max-pairwise-seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print(f"machine: {machine_description()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    # Timings are only meaningful on an otherwise idle machine: record its load.
    print(f"load average (1, 5, 15 min) at the start: {os.getloadavg()}")
    cases = [(n, d) for n in SIZES_N for d in SIZES_D] + [LARGE_CASE]
    rows = []
    pairwise_rate = None  # seconds per N^2 (D + 64), from the largest run so far
    for n, d in cases:
        features, labels = make_case(n, d, args.seed)
        fast_seconds, fast_value = time_call(lfc, features, labels)
        row = {
            "n": n,
            "d": d,
            "fast_seconds": fast_seconds,
            "pairwise_seconds": "",
            "speedup": "",
            "abs_diff": "",
            "lfc": fast_value,
            "note": "",
        }
        memory_gb = PAIRWISE_MATRICES * n * n * 8 / 1e9
        work = n * n * (d + 64)
        if (n, d) == LARGE_CASE:
            row["note"] = "fast form only"
        elif memory_gb > args.max_pairwise_gb:
            row["note"] = (
                f"pairwise skipped: ~{memory_gb:.1f} GB for its N x N matrices "
                f"> {args.max_pairwise_gb:g} GB"
            )
        elif pairwise_rate is not None and pairwise_rate * work > args.max_pairwise_seconds:
            row["note"] = (
                f"pairwise skipped: estimated {pairwise_rate * work:.0f} s "
                f"> {args.max_pairwise_seconds:g} s"
            )
        else:
            pairwise_seconds, pairwise_value = time_call(
                lfc_pairwise, features, labels, min_total=5.0, max_repeats=2
            )
            pairwise_rate = pairwise_seconds / work
            difference = abs(fast_value - pairwise_value)
            row.update(
                pairwise_seconds=pairwise_seconds,
                speedup=pairwise_seconds / fast_seconds,
                abs_diff=difference,
                note="ok" if difference <= TOLERANCE else f"MISMATCH > {TOLERANCE:g}",
            )
        rows.append(row)
        print(
            f"N={n:>6} D={d:>5}  fast {fast_seconds:9.4f} s  "
            + (
                f"pairwise {row['pairwise_seconds']:9.3f} s  speedup {row['speedup']:8.1f}x  "
                f"|diff| {row['abs_diff']:.1e}"
                if row["pairwise_seconds"] != ""
                else row["note"]
            ),
            flush=True,
        )
        del features, labels

    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_suffix(".csv.partial")
    with open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(args.out)

    print()
    print("| N | D | fast s | pairwise s | speedup | abs diff | note |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        pairwise = f"{row['pairwise_seconds']:.3f}" if row["pairwise_seconds"] != "" else "—"
        speedup = f"{row['speedup']:.0f}×" if row["speedup"] != "" else "—"
        diff = f"{row['abs_diff']:.1e}" if row["abs_diff"] != "" else "—"
        print(
            f"| {row['n']} | {row['d']} | {row['fast_seconds']:.4f} | {pairwise} | "
            f"{speedup} | {diff} | {row['note']} |"
        )
    print(f"\nwrote {args.out}")
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    return 1 if any(row["note"].startswith("MISMATCH") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

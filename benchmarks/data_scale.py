"""Real datasets at scale: memory that does not grow with the data, and the loader against the decoder.

Generates seeded folders of 256 x 256 JPEGs (``--sizes``, e.g. 10,000 and
100,000 images in ``--classes`` classes; never committed, kept under
``--root`` for re-runs) and on each runs, in a fresh process whose whole
process tree (the DataLoader's workers included) is sampled for its summed
resident memory:

- ``prepare``: the ``imagefolder`` builder (every image checked once) and
  the manifest written, as ``prepare_dataset`` does;
- ``extract``: cache extraction of a torchvision ResNet-18 with random
  weights at 224 px (resize 256, centre crop 224) on K images per class;
- ``finetune``: one fine-tuning epoch of that ResNet-18 on
  ``--finetune-images`` training images (random resized crop and flip);
- ``loader``: the DataLoader with ``--workers`` workers streaming
  ``--rate-images`` training images as the extraction reads them (decode,
  resize, centre crop, as uint8), without a network, against ``decode``:
  the bare decode-resize-normalise rate of the same files in the same
  number of plain processes (``multiprocessing.Pool``), the machine's limit;
  ``loader_normalised`` adds the float conversion and normalisation that a
  job does to each batch on its device (here, the CPU it shares with the
  workers; on a GPU node, the GPU).
  Also each decoder's single-process rate (PIL, PIL with JPEG draft mode,
  ``torchvision.io.decode_jpeg``).

On this 2-core CPU machine an epoch of ResNet-18 at 224 px on 10,000 images
takes over 20 minutes; ``--finetune-steps`` stops it early (memory peaks in
the first steps, and images/s is the steady rate).

Writes ``benchmarks/results/data_scale.csv`` (one row per size and phase:
seconds, images, images/s, peak RSS of the process tree in MiB).

Usage (from the repository root):

    .venv/bin/python benchmarks/data_scale.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SIDE = 256


# --- the seeded image folders --------------------------------------------------------


def _write_images(job: tuple[str, int, int, int]) -> None:
    from PIL import Image

    folder, label, first, count = job
    rng = np.random.default_rng([label, first])
    base = np.random.default_rng(label).integers(40, 215, 3)  # each class has its colour
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    for i in range(first, first + count):
        fx, fy = rng.uniform(0.01, 0.08, 2)
        wave = np.sin(xx * fx + rng.uniform(0, 6.3)) * np.cos(yy * fy + rng.uniform(0, 6.3))
        pixels = base[None, None, :] + 40 * wave[..., None] + rng.normal(0, 12, (SIDE, SIDE, 3))
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        image.save(Path(folder) / f"c{label:03d}" / f"{i:06d}.jpg", quality=90)


def make_folder(root: Path, images: int, classes: int, processes: int) -> Path:
    """``images`` seeded 256-px JPEGs in ``classes`` class folders under ``root`` (reused when complete)."""
    folder = root / f"jpeg-{images}-{classes}"
    done = folder / ".complete"
    if done.exists():
        return folder
    per_class = images // classes
    jobs = []
    for label in range(classes):
        (folder / f"c{label:03d}").mkdir(parents=True, exist_ok=True)
        for first in range(0, per_class, 500):
            jobs.append((str(folder), label, first, min(500, per_class - first)))
    start = time.perf_counter()
    with multiprocessing.Pool(processes) as pool:
        pool.map(_write_images, jobs)
    done.write_text(json.dumps({"images": per_class * classes, "seconds": time.perf_counter() - start}))
    return folder


# --- the phases, each in its own process ---------------------------------------------


def _phase(name: str, folder: Path, manifest: Path, args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from zooselect.data import build_dataset, load_dataset, sample_per_class, save_dataset
    from zooselect.data.stream import Images
    from zooselect.models.torchvision_classifiers import torchvision_input, torchvision_model

    spec = torchvision_input("resnet18", None)
    if name == "prepare":
        start = time.perf_counter()
        dataset = build_dataset("imagefolder", 0, {"root": str(folder), "test_fraction": 0.1, "image_size": 32})
        save_dataset(manifest, dataset)
        n = len(dataset.y_train) + len(dataset.y_test)
        return {"seconds": time.perf_counter() - start, "images": n}
    dataset = load_dataset(manifest)
    chosen = sample_per_class(dataset.y_train, args.images_per_class, 0)
    sample = Images(dataset.source("train"), chosen)
    torch.manual_seed(0)
    model = torchvision_model("resnet18", weights=None).to(memory_format=torch.channels_last)
    if name == "extract":
        from zooselect.extraction import extract

        start = time.perf_counter()
        extraction = extract(model, sample, dataset.num_classes, spec, workers=args.workers)
        return {"seconds": time.perf_counter() - start, "images": len(extraction.labels)}
    if name == "finetune":
        from zooselect.training import Schedule, epochs_to_steps, train

        rng = np.random.default_rng(0)
        subset = np.sort(
            rng.choice(len(dataset.y_train), min(args.finetune_images, len(dataset.y_train)), replace=False)
        )
        images = Images(dataset.source("train"), subset)
        steps = epochs_to_steps(1, len(images), 64)
        steps = min(steps, args.finetune_steps) if args.finetune_steps else steps
        schedule = Schedule(steps=steps, batch_size=64, lr=0.01)
        start = time.perf_counter()
        train(model, images, schedule, seed=0, description="one epoch", spec=spec, workers=args.workers)
        return {"seconds": time.perf_counter() - start, "images": steps * 64}
    # The loader and the bare decoder read the same images: a seeded sample of the training set.
    rate_sample = np.sort(
        np.random.default_rng(1).choice(
            len(dataset.y_train), min(args.rate_images, len(dataset.y_train)), replace=False
        )
    )
    if name in ("loader", "loader_normalised"):
        from zooselect.data.stream import batches, in_order

        sample = Images(dataset.source("train"), rate_sample)
        transform, finish = spec.loading(packed=False)
        finish = finish if name == "loader_normalised" else None  # on a GPU it runs there
        start = time.perf_counter()
        n = sum(len(y) for _, y, _ in batches(sample.source, in_order(sample.indices, 64), transform,
                                               workers=args.workers, draft=spec.resize, finish=finish))  # fmt: skip
        return {"seconds": time.perf_counter() - start, "images": n}
    if name == "decode":
        paths = [str(dataset.train.paths[i]) for i in rate_sample]
        rates = {}
        for decoder in ("pil", "pil_draft", "torchvision_io"):
            start = time.perf_counter()
            for path in paths[:1000]:
                _decode_and_resize(path, spec, decoder)
            rates[decoder] = min(1000, len(paths)) / (time.perf_counter() - start)
        start = time.perf_counter()
        with multiprocessing.Pool(args.workers) as pool:
            pool.starmap(_decode_only, [(p, spec, "pil_draft") for p in paths], chunksize=16)
        return {"seconds": time.perf_counter() - start, "images": len(paths), "decoders": rates}
    raise ValueError(name)


_TRANSFORMS: dict = {}


def _decode_and_resize(path: str, spec, decoder: str):
    """One file decoded and resized the plain way: the work the loader cannot avoid."""
    import torch

    from zooselect.data.stream import decode_image

    if spec not in _TRANSFORMS:  # once per process, as a loader worker does
        torch.set_num_threads(1)
        _TRANSFORMS[spec] = spec.eval_transform()
    if decoder == "torchvision_io":
        from torchvision.io import decode_jpeg, read_file

        image = decode_jpeg(read_file(path))
    else:
        image = decode_image(path, spec.resize if decoder == "pil_draft" else None)
    return _TRANSFORMS[spec](image)


def _decode_only(path: str, spec, decoder: str) -> None:
    """The bare rate: decode and resize, hand nothing back (the loader also ships each batch)."""
    _decode_and_resize(path, spec, decoder)


def _tree_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) summed over a process and all its descendants; PSS shares each shared page out."""
    import psutil

    try:
        parent = psutil.Process(pid)
        processes = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0, 0
    rss = pss = 0
    for process in processes:
        try:
            info = process.memory_full_info()
            rss, pss = rss + info.rss, pss + info.pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return rss, pss


def run_phase(name: str, folder: Path, manifest: Path, args: argparse.Namespace) -> dict:
    """Run one phase in a child process; sample its process tree's summed RSS and PSS every 0.2 s."""
    command = [sys.executable, __file__, "--phase", name, "--folder", str(folder), "--manifest", str(manifest),
               "--images-per-class", str(args.images_per_class), "--finetune-images", str(args.finetune_images),
               "--workers", str(args.workers), "--threads", str(args.threads),
               "--finetune-steps", str(args.finetune_steps), "--rate-images", str(args.rate_images)]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    peak = peak_pss = 0
    while child.poll() is None:
        rss, pss = _tree_memory(child.pid)
        peak, peak_pss = max(peak, rss), max(peak_pss, pss)
        time.sleep(0.2)
    out = child.stdout.read()
    if child.returncode:
        raise SystemExit(f"phase {name} failed ({child.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mib"] = peak / 2**20
    result["peak_pss_mib"] = peak_pss / 2**20
    return result


def _numbers(row: dict) -> dict:
    """A row read back from the CSV, its figures as numbers again."""
    out = {k: v for k, v in row.items() if v != ""}
    out["dataset_images"] = int(out["dataset_images"])
    for key in ("seconds", "images", "images_per_second", "peak_rss_mib", "peak_pss_mib"):
        if key in out:
            out[key] = float(out[key])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--images-per-class", type=int, default=50, help="K of the extraction")
    parser.add_argument("--finetune-images", type=int, default=10_000)
    parser.add_argument(
        "--finetune-steps",
        type=int,
        default=0,
        help="stop the epoch after this many steps of 64 images (0: the whole epoch)",
    )
    parser.add_argument("--rate-images", type=int, default=4000, help="images the loader and decoder rates read")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--phases", nargs="+", default=["prepare", "decode", "loader", "loader_normalised", "extract", "finetune"]
    )
    parser.add_argument("--root", type=Path, default=Path("/tmp/zooselect-scale"))
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--manifest", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(_phase(args.phase, args.folder, args.manifest, args)))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        start = time.perf_counter()
        folder = make_folder(args.root, size, args.classes, args.workers)
        print(f"{size} images in {folder} ({time.perf_counter() - start:.0f} s)", flush=True)
        manifest = args.root / f"manifest-{size}-{args.classes}.npz"
        for phase in args.phases:
            result = run_phase(phase, folder, manifest, args)
            decoders = result.pop("decoders", None)
            row = {"dataset_images": size, "phase": phase, **result,
                   "images_per_second": result["images"] / result["seconds"]}  # fmt: skip
            if decoders:
                row["decoders"] = json.dumps({k: round(v, 1) for k, v in decoders.items()})
            rows.append(row)
            print(json.dumps(row), flush=True)
    # Rows of phases not re-run this time are kept from the file's previous run.
    previous = RESULTS / "data_scale.csv"
    if previous.exists():
        with open(previous, newline="") as f:
            done = {(int(r["dataset_images"]), r["phase"]) for r in rows}
            kept = [_numbers(r) for r in csv.DictReader(f) if (int(r["dataset_images"]), r["phase"]) not in done]
        rows = kept + rows
        rows.sort(key=lambda r: (int(r["dataset_images"]), args.phases.index(r["phase"]) if r["phase"] in args.phases else -1))
    columns = ["dataset_images", "phase", "seconds", "images", "images_per_second", "peak_rss_mib", "peak_pss_mib",
               "decoders"]  # fmt: skip
    with open(RESULTS / "data_scale.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    by = {(r["dataset_images"], r["phase"]): r for r in rows}
    for phase in args.phases:
        small, large = by.get((min(args.sizes), phase)), by.get((max(args.sizes), phase))
        if small and large and small is not large:
            for key in ("peak_rss_mib", "peak_pss_mib"):
                print(f"{phase}: {key} {large[key]:.0f} at {max(args.sizes)} images vs {small[key]:.0f} at "
                      f"{min(args.sizes)} ({large[key] / small[key] - 1:+.1%})")  # fmt: skip
    for size in args.sizes:
        for loader in ("loader", "loader_normalised"):
            if (size, loader) in by and (size, "decode") in by:
                ratio = by[size, loader]["images_per_second"] / by[size, "decode"]["images_per_second"]
                print(f"{size}: {loader} {by[size, loader]['images_per_second']:.0f} img/s = {ratio:.0%} "
                      f"of the bare decode-and-resize rate {by[size, 'decode']['images_per_second']:.0f} img/s")  # fmt: skip


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()

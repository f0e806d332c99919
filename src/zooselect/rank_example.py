"""Write an offline example for ``zooselect rank``: an image folder, three checkpoints, a zoo file.

    python -m zooselect.rank_example example/
    zooselect rank --target example/digits --zoo example/zoo.yaml --out example/ranking

Everything comes from the embedded data (no download): ``digits/`` holds
500 PNG images of the digits 0-9 drawn in fonts no expert saw (one folder
per class); ``experts/`` holds three small experts trained here for a few
hundred steps (on MNIST and on shapes, as zooselect checkpoints, and on
font letters, as a plain safetensors state dict); ``zoo.yaml`` lists them
with three randomly initialised ImageNet architectures (torchvision's
ResNet-18 and MobileNetV3-Small, timm's ResNet-10-T), six experts in all.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ZOO = """\
# Six experts: three trained on the embedded data, three ImageNet
# architectures with random weights (nothing is downloaded).
experts:
  mnist_resnet:                     # a zooselect checkpoint: it names its architecture
    origin: checkpoint
    path: experts/mnist_resnet.pt
  shapes_resnet:
    origin: checkpoint
    path: experts/shapes_resnet.pt
  letters_resnet:                   # a plain state dict: give its architecture
    origin: checkpoint
    path: experts/letters_resnet.safetensors
    arch: resnet
    options: {width: 16}
  tv_resnet18:
    origin: torchvision
    model: resnet18
    weights: null                   # e.g. IMAGENET1K_V1 for ImageNet weights
  tv_mobilenet:
    origin: torchvision
    model: mobilenet_v3_small
    weights: null
  timm_resnet10t:
    origin: timm
    model: resnet10t
    pretrained: false               # true downloads timm's ImageNet weights
"""


def write_image_folder(dataset, folder: Path) -> int:
    """Every image of ``dataset`` (train and test) as ``folder/<class>/<n>.png``; returns the count."""
    from PIL import Image

    images = np.concatenate([dataset.x_train, dataset.x_test])
    labels = np.concatenate([dataset.y_train, dataset.y_test])
    for n, (image, label) in enumerate(zip(images, labels)):
        path = folder / dataset.classes[label] / f"{n:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
    return len(images)


def make_example(folder: str | Path, steps: int = 300, images: int = 500, seed: int = 0) -> Path:
    """Write the example into ``folder``: ``digits/``, ``experts/`` and ``zoo.yaml``."""
    from safetensors.torch import save_file

    from .data import build_dataset
    from .experts import train_expert
    from .models import save_checkpoint
    from .training import Schedule

    folder = Path(folder)
    test = images // 5
    digits = build_dataset(
        "font_glyphs", seed, {"chars": "0123456789", "fonts": ["cm*", "STIX*"], "train": images - test, "test": test}
    )
    written = write_image_folder(digits, folder / "digits")
    log.info("wrote %d images to %s", written, folder / "digits")
    schedule = Schedule(steps=steps, batch_size=64, lr=0.05)
    options = {"width": 16}
    sources = {
        "mnist_resnet": ("mnist", {"train": 2000, "test": 200}),
        "shapes_resnet": ("shapes", {"train": 2000, "test": 200}),
        "letters_resnet": ("font_glyphs", {"train": 2000, "test": 200}),
    }
    (folder / "experts").mkdir(parents=True, exist_ok=True)
    for position, (name, (kind, kind_options)) in enumerate(sources.items()):
        source = build_dataset(kind, seed + position, kind_options)
        model, metrics = train_expert("resnet", options, source, schedule, seed + position, description=name)
        if name == "letters_resnet":  # a plain state dict, as other code would save it
            state = {k: v.contiguous() for k, v in model.state_dict().items()}
            save_file(state, folder / "experts" / f"{name}.safetensors")
        else:
            save_checkpoint(folder / "experts" / f"{name}.pt", model, "resnet", options, source.classes, metrics)
    (folder / "zoo.yaml").write_text(ZOO)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zooselect.rank_example", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="where to write the example")
    parser.add_argument("--steps", type=int, default=300, help="training steps of each small expert (default 300)")
    parser.add_argument("--images", type=int, default=500, help="images in the target folder (default 500)")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    folder = make_example(args.folder, args.steps, args.images)
    print(f"wrote {folder}/digits, {folder}/experts and {folder}/zoo.yaml; now run\n"
          f"  zooselect rank --target {folder}/digits --zoo {folder}/zoo.yaml --out {folder}/ranking")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

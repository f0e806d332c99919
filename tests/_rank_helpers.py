"""What the `zooselect rank` tests share: a small image folder and a zoo of local checkpoints
(the local HTTP server fixture is in conftest.py).

Everything is made in the test's tmp_path; nothing needs the internet.
"""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image
from safetensors.torch import save_file

from zooselect.models import create_model, save_checkpoint

CLASSES = ("blue", "green", "red")  # each class's images are bright in its own colour channel


def make_image_folder(root: Path, per_class: int = 6, size: int = 12, seed: int = 0) -> Path:
    """``root/<class>/<n>.png``: noise with the class's colour channel raised."""
    rng = np.random.default_rng(seed)
    for channel, name in zip((2, 1, 0), CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            pixels = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
            pixels[..., channel] = rng.integers(150, 256)
            Image.fromarray(pixels).save(root / name / f"{n:02d}.png")
    return root


def write_local_zoo(folder: Path) -> Path:
    """Three small experts as local files (ours, a plain state dict, safetensors) and their zoo file."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    ours = create_model("resnet", 5, width=4)
    save_checkpoint(folder / "ours.pt", ours, "resnet", {"width": 4}, list("abcde"), {})
    torch.save(create_model("densenet", 4, growth=4).state_dict(), folder / "plain.pt")
    wide = {k: v.contiguous() for k, v in create_model("resnet", 3, width=8).state_dict().items()}
    save_file(wide, folder / "wide.safetensors")
    zoo = {
        "experts": {
            "ours": {"origin": "checkpoint", "path": "ours.pt"},
            "plain_densenet": {"origin": "checkpoint", "path": "plain.pt", "arch": "densenet", "options": {"growth": 4}},
            "wide_resnet": {"origin": "checkpoint", "path": "wide.safetensors", "arch": "resnet", "options": {"width": 8}},
        }
    }
    (folder / "zoo.yaml").write_text(yaml.safe_dump(zoo, sort_keys=False))
    return folder / "zoo.yaml"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pack_tar(folder: Path, archive: Path, top: str) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=top)
    return archive

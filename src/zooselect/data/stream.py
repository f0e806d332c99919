"""Images streamed to a network: one path for packed arrays, image files and torchvision sets.

Every dataset (packed or on disk, see :mod:`zooselect.data`) hands out its
splits as an :class:`ImageSource`: labels in memory, pixels read on demand
as uint8 (3, H, W) tensors. :func:`batches` turns a source, a list of index
batches and a transform into batches on a device through a
``torch.utils.data.DataLoader``: with ``workers`` worker processes the
images are decoded and transformed in parallel (``workers=0`` reads in the
calling process, which is what packed arrays want). Memory depends on the
batch size and the workers, never on the dataset's size.

Randomness never comes from the workers: each item of a batch may carry its
own seed, under which its random transform runs, so a batch is the same for
any number of workers and a run is reproducible and resumable from its step.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from .images import IMAGE_ERRORS

log = logging.getLogger(__name__)

Item = tuple[int, int, "int | None"]
"""One image of a batch: (source number, index in that source, seed of its random transform or None)."""



class BadImageError(ValueError):
    """An image that cannot be read (missing, truncated, changed since prepare), naming its file."""


class ImageSource:
    """One split of a dataset: ``labels`` (int64, in memory) and pixels read on demand.

    Subclasses give ``read(index, draft)`` -> uint8 (3, H, W); a source whose
    images sit in one array also gives ``read_batch`` for whole batches.
    ``draft`` is a hint: the smallest side the caller will resize to (a JPEG
    may then be decoded at a reduced scale that is still at least that big).
    """

    labels: np.ndarray
    packed = False

    def __len__(self) -> int:
        return len(self.labels)

    def read(self, index: int, draft: int | None = None) -> torch.Tensor:
        raise NotImplementedError

    def read_batch(self, indices: Sequence[int]) -> torch.Tensor:
        return torch.stack([self.read(int(i)) for i in indices])

    def fingerprint(self) -> str:
        """What the images and labels are, for resume states (cheap: no pixels read for files)."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{type(self).__name__}({len(self)} images)"


class PackedSource(ImageSource):
    """Images held in one uint8 (N, H, W, 3) array (the embedded datasets)."""

    packed = True

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"packed images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    def read(self, index: int, draft: int | None = None) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.images[index])).permute(2, 0, 1)

    def read_batch(self, indices: Sequence[int]) -> torch.Tensor:
        return torch.from_numpy(self.images[np.asarray(indices, dtype=np.int64)]).permute(0, 3, 1, 2)

    def fingerprint(self) -> str:
        digest = hashlib.blake2b(digest_size=16)
        digest.update(repr(self.images.shape).encode())
        digest.update(np.ascontiguousarray(self.images[:: max(1, len(self.images) // 64)]).tobytes())
        digest.update(self.labels.tobytes())
        return digest.hexdigest()


def decode_image(data: bytes | str | Path, draft: int | None = None) -> torch.Tensor:
    """An image file (bytes or a path) as RGB uint8 (3, H, W), upright by its EXIF orientation.

    PIL decodes; with ``draft`` a JPEG is decoded at the largest reduced
    scale (1/2, 1/4, 1/8) whose sides are still at least ``draft``, which
    makes large photos several times cheaper. ``torchvision.io.decode_jpeg``
    decoded 256-px JPEGs 1.3-1.5x faster here (1.15x with the resize; see
    benchmarks/README.md), but torchvision 0.29 deprecates its decoders,
    cannot decode at a reduced scale, and handles fewer formats.
    """
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
        if draft:
            image.draft("RGB", (draft, draft))
        image = ImageOps.exif_transpose(image).convert("RGB")
        return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)


class FileSource(ImageSource):
    """Images in files on disk, listed in a manifest with the size each file had when checked."""

    def __init__(self, paths: Sequence[str], labels: np.ndarray, sizes: Sequence[int], fingerprint: str) -> None:
        self.paths = np.asarray(paths, dtype=np.str_)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self._fingerprint = fingerprint

    def read(self, index: int, draft: int | None = None) -> torch.Tensor:
        path = str(self.paths[index])
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as error:
            raise BadImageError(
                f"cannot read image {path}: {error.strerror or error} "
                "(it was there when the dataset was prepared; re-run prepare_dataset)"
            ) from None
        if len(data) != self.sizes[index]:
            raise BadImageError(
                f"image {path} changed since the dataset was prepared ({self.sizes[index]} bytes then, "
                f"{len(data)} now); re-run prepare_dataset (snakemake --forcerun prepare_dataset)"
            )
        try:
            return decode_image(data, draft)
        except IMAGE_ERRORS as error:
            raise BadImageError(f"cannot decode image {path}: {error}") from None

    def fingerprint(self) -> str:
        return self._fingerprint

    def describe(self) -> str:
        return f"{len(self)} image files"


class TorchvisionSource(ImageSource):
    """Samples of a ``torchvision.datasets`` class, built lazily in each process that reads them."""

    def __init__(self, spec: dict[str, Any], positions: Sequence[int], labels: np.ndarray, fingerprint: str) -> None:
        self.spec = spec  # {"name", "args"}: the class and its constructor arguments
        self.positions = np.asarray(positions, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        self._fingerprint = fingerprint
        self._dataset = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_dataset": None}  # each worker builds its own

    def read(self, index: int, draft: int | None = None) -> torch.Tensor:
        if self._dataset is None:
            from .torchvision_sets import make_torchvision_dataset

            self._dataset = make_torchvision_dataset(self.spec["name"], self.spec["args"])
        image, _ = self._dataset[int(self.positions[index])]
        if isinstance(image, torch.Tensor):
            from torchvision.transforms.functional import to_pil_image

            image = to_pil_image(image)
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.uint8).copy()).permute(2, 0, 1)

    def fingerprint(self) -> str:
        return self._fingerprint


class ConcatSource(ImageSource):
    """Several sources one after another (e.g. the union of an expert's source datasets)."""

    def __init__(self, parts: Sequence[ImageSource], offsets: Sequence[int]) -> None:
        self.parts = list(parts)
        self.offsets = np.asarray(offsets, dtype=np.int64)  # added to each part's labels
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])
        self.labels = np.concatenate([p.labels + o for p, o in zip(self.parts, self.offsets)])
        self.packed = all(p.packed for p in self.parts)

    def _locate(self, index: int) -> tuple[int, int]:
        part = int(np.searchsorted(self.starts, index, side="right") - 1)
        return part, int(index - self.starts[part])

    def read(self, index: int, draft: int | None = None) -> torch.Tensor:
        part, local = self._locate(index)
        return self.parts[part].read(local, draft)

    def read_batch(self, indices: Sequence[int]) -> torch.Tensor:
        located = [self._locate(int(i)) for i in indices]
        parts = {p for p, _ in located}
        if len(parts) == 1:
            (p,) = parts
            return self.parts[p].read_batch([i for _, i in located])
        return torch.stack([self.parts[p].read(i) for p, i in located])

    def fingerprint(self) -> str:
        return hashlib.blake2b(
            repr([(p.fingerprint(), int(o)) for p, o in zip(self.parts, self.offsets)]).encode(), digest_size=16
        ).hexdigest()


@dataclass
class Images:
    """Some images of a source (all of them without ``indices``): what a job trains on or extracts."""

    source: ImageSource
    indices: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.source)
        self.indices = np.arange(n) if self.indices is None else np.asarray(self.indices, dtype=np.int64)
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= n):
            raise ValueError(f"image indices fall outside 0..{n - 1}")

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> np.ndarray:
        return self.source.labels[self.indices]

    def fingerprint(self) -> str:
        digest = hashlib.blake2b(self.source.fingerprint().encode(), digest_size=16)
        digest.update(self.indices.tobytes())
        return digest.hexdigest()

    def describe(self) -> str:
        return f"{len(self)} of {self.source.describe()}"


@dataclass
class _Batches(torch.utils.data.Dataset):
    """What the DataLoader's workers run: read a batch's images and transform them.

    ``sources`` are numbered; each item names its source, its index there
    and its seed. ``transform`` takes uint8 (3, H, W) or, for packed sources
    read whole (``batch_transform``), uint8 (N, 3, H, W).
    """

    sources: Sequence[ImageSource]
    transform: Callable[[torch.Tensor], torch.Tensor]
    draft: int | None = None
    batch_transform: bool = False
    random: bool = False  # the transform draws random numbers: run each image under its item's seed

    def __post_init__(self) -> None:
        self._prepared: dict[int, torch.Tensor] = {}

    def _whole(self, source_id: int) -> torch.Tensor:
        """A packed source transformed once, whole (the embedded arrays are small; a batch is then an index)."""
        if source_id not in self._prepared:
            source = self.sources[source_id]
            self._prepared[source_id] = self.transform(source.read_batch(np.arange(len(source))))
        return self._prepared[source_id]

    def __getitem__(self, item: Item):  # the DataLoader asks for whole batches (__getitems__)
        return self.__getitems__([item])

    def __getitems__(self, items: Sequence[Item]) -> tuple[torch.Tensor, torch.Tensor, int]:
        source_ids = {s for s, _, _ in items}
        if len(source_ids) != 1:
            raise ValueError(f"a batch draws from one source, got {sorted(source_ids)}")
        (source_id,) = source_ids
        source = self.sources[source_id]
        indices = [i for _, i, _ in items]
        labels = torch.from_numpy(source.labels[np.asarray(indices, dtype=np.int64)])
        if self.batch_transform and not self.random:
            return self._whole(source_id)[torch.as_tensor(indices)], labels, source_id
        images = []
        for _, index, seed in items:
            image = source.read(index, self.draft)
            if self.random:
                with _seeded(seed):
                    images.append(self.transform(image))
            else:
                images.append(self.transform(image))
        return torch.stack(images), labels, source_id


@contextlib.contextmanager
def _seeded(seed: int):
    """torch's CPU generator seeded with ``seed`` for the block, then restored (cheaper than
    ``torch.manual_seed``, which also seeds every accelerator)."""
    generator = torch.random.default_generator
    state = generator.get_state()
    generator.manual_seed(seed)
    try:
        yield
    finally:
        generator.set_state(state)


def _whole_batch(batch):
    return batch


def batches(
    sources: ImageSource | Sequence[ImageSource],
    plan: Iterable[Sequence[Item]],
    transform: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device | str = "cpu",
    workers: int = 0,
    draft: int | None = None,
    random: bool = False,
    finish: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """(images, labels, source number) for each batch of ``plan``, on ``device``, in plan order.

    Images come out float, channels-last; on CUDA through pinned memory with
    non-blocking copies. Packed sources are read a whole batch at a time in
    this process (and transformed as one tensor unless the transform is
    ``random``); other sources by ``workers`` DataLoader processes. A
    ``random`` transform runs for each image under the seed its item carries.
    ``finish`` runs on each batch once it is on ``device`` (e.g. the float
    conversion and normalisation of uint8 images the workers cropped).
    """
    sources = [sources] if isinstance(sources, ImageSource) else list(sources)
    device = torch.device(device)
    packed = all(s.packed for s in sources)
    workers = 0 if packed else max(0, int(workers))
    loader = torch.utils.data.DataLoader(
        _Batches(sources, transform, draft, batch_transform=packed, random=random),
        batch_sampler=plan,
        collate_fn=_whole_batch,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers else None,
    )
    cuda = device.type == "cuda"
    for images, labels, source_id in loader:
        images = images.to(device, non_blocking=cuda)
        if finish is not None:
            images = finish(images)
        images = images.contiguous(memory_format=torch.channels_last)
        yield images, labels.to(device, non_blocking=cuda), source_id


def in_order(indices: Sequence[int] | int, batch_size: int, source: int = 0) -> list[list[Item]]:
    """The images at ``indices`` (or the first N) once, in order, in batches (extraction, evaluation)."""
    indices = range(indices) if isinstance(indices, int) else [int(i) for i in indices]
    return [
        [(source, i, None) for i in indices[start : start + batch_size]]
        for start in range(0, len(indices), batch_size)
    ]

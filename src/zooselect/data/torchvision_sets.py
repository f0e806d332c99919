"""Any image-classification dataset class of ``torchvision.datasets``, as a manifest of its samples.

Preparing reads every sample once (its label, and a proof that it decodes);
the manifest keeps the class, its constructor arguments and the sample
positions, and images are read again from torchvision's own files when a
job streams them (:class:`~zooselect.data.stream.TorchvisionSource`).
torchvision is imported only when the builder runs, so importing
:mod:`zooselect.data` stays free of torch.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import json
import logging
import sys
from collections.abc import Mapping

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..progress import show_progress
from .dataset import StreamedDataset, check_count, rng_for
from .images import check_test_fraction, require, seeded_split

log = logging.getLogger(__name__)


def _dataset_class(name: str) -> type:
    import torchvision.datasets as tvd

    names = sorted(
        n
        for n in tvd.__all__
        if isinstance(getattr(tvd, n), type) and issubclass(getattr(tvd, n), tvd.VisionDataset)
    )
    if name in names:
        return getattr(tvd, name)
    lower = {n.lower(): n for n in names}
    close = [lower[n] for n in difflib.get_close_matches(name.lower(), lower, n=5, cutoff=0.6)]
    hint = f"close matches: {', '.join(close)}" if close else f"valid names: {', '.join(names)}"
    raise ValueError(f"unknown torchvision dataset '{name}'; {hint}")


def _split_args(
    parameters: Mapping[str, object], train_args: object, test_args: object
) -> tuple[dict, dict | None]:
    for option, value in (("train_args", train_args), ("test_args", test_args)):
        if value is not None and not isinstance(value, Mapping):
            raise ValueError(f"option '{option}' must be a mapping of arguments, got {value!r}")
    if "train" in parameters:
        default_train, default_test = {"train": True}, {"train": False}
    elif "split" in parameters:
        default_train, default_test = {"split": "train"}, {"split": "test"}
    else:
        default_train, default_test = {}, None
    train = dict(default_train if train_args is None else train_args)
    test = default_test if test_args is None else dict(test_args)
    return train, test


def make_torchvision_dataset(name: str, args: Mapping[str, object]):
    """An instance of the ``torchvision.datasets`` class ``name`` built with ``args`` (no transform)."""
    return _dataset_class(name)(**args)


def _labels(dataset, what: str, progress: bool) -> np.ndarray:
    """Every sample's label, reading each sample once (which also proves its image decodes)."""
    y = np.empty(len(dataset), np.int64)
    for i in tqdm(range(len(dataset)), desc=f"checking {what}", file=sys.stderr, mininterval=10,
                  disable=not progress):  # fmt: skip
        image, label = dataset[i]
        if not isinstance(image, Image.Image) and not hasattr(image, "shape"):
            raise ValueError(f"{what}: sample {i} is a {type(image).__name__}, not an image")
        try:
            y[i] = int(label)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"{what}: sample {i} has label {label!r}, not a class index "
                "(choose the target type in train_args / test_args)"
            ) from e
    return y


def _class_names(dataset, labels: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Class names in sorted order, and old label -> new label."""
    classes = getattr(dataset, "classes", None)
    if not classes:
        count = int(labels.max()) + 1 if len(labels) else 0
        return [str(c) for c in range(count)], np.arange(count)
    names = [str(c) for c in classes]
    if len(set(names)) < len(names):
        log.warning(
            "%s has repeated class names: labels keep the dataset's order", type(dataset).__name__
        )
        return names, np.arange(len(names))
    order = np.argsort(np.array(names), kind="stable")
    relabel = np.empty(len(names), np.int64)
    relabel[order] = np.arange(len(names))
    return [names[i] for i in order], relabel


def check_torchvision_options(
    name: object,
    root: object,
    download: object,
    train_args: object,
    test_args: object,
    image_size: object,
    test_fraction: object,
) -> None:
    """Check the options of ``torchvision`` without reading any data: the class name (importing
    torchvision's datasets), the split arguments, the sizes (its classes: None, unknown here).
    A name left unset is not refused here but by the build (see ``require``)."""
    check_count("image_size", image_size, 1)
    check_test_fraction(test_fraction)
    if name:
        _split_args(inspect.signature(_dataset_class(name)).parameters, train_args, test_args)


def torchvision_dataset(
    seed: int,
    name: str | None = None,
    root: str = "resources/torchvision",
    download: bool = True,
    train_args: dict | None = None,
    test_args: dict | None = None,
    image_size: int = 32,
    test_fraction: float = 0.2,
) -> StreamedDataset:
    """A dataset class of ``torchvision.datasets`` (CIFAR10, Flowers102, DTD, OxfordIIITPet, ...).

    - ``name`` (required): the class name; an unknown name stops with the
      close matches.
    - ``root``: the folder torchvision keeps the files in (given to the
      class when it takes a ``root`` argument).
    - ``download``: let torchvision download missing files (given when the
      class takes a ``download`` argument).
    - ``train_args`` / ``test_args``: other constructor arguments for the
      train and the test set, e.g. ``{"train": True}`` / ``{"train": False}``
      or ``{"split": "train"}`` / ``{"split": "test"}``. Unset, they are
      those two pairs for classes with a ``train`` or a ``split`` argument
      (OxfordIIITPet, whose splits are "trainval" and "test", needs
      ``train_args: {"split": "trainval"}``);
      for other classes the train set is built from ``train_args`` (or no
      arguments) and, while ``test_args`` is unset, split by ``test_fraction``.
    - ``image_size``: the side the benchmark's own experts see the images
      at (shorter side scaled to it, centre-cropped); hub experts use their own.
    - ``test_fraction``: fraction of each class drawn with ``seed`` for test,
      used only when there is no test set (see above).

    Every sample must be (image, integer label). Class names come from the
    dataset's ``classes`` attribute, else "0" .. "C-1"; labels follow the
    sorted class names.
    """
    require("name", name)
    check_torchvision_options(name, root, download, train_args, test_args, image_size, test_fraction)
    cls = _dataset_class(name)
    parameters = inspect.signature(cls).parameters
    common = {k: v for k, v in (("root", root), ("download", download)) if k in parameters}
    train_args, test_args = _split_args(parameters, train_args, test_args)
    train_spec = {"name": name, "args": {**common, **train_args}}
    train = make_torchvision_dataset(name, train_spec["args"])
    if len(train) == 0:
        raise ValueError(f"{name} with {train_args} holds no samples")
    y = _labels(train, f"{name} train", progress=show_progress())
    if test_args is None:
        tr, te = seeded_split(y, test_fraction, rng_for("torchvision", seed, "split"))
        test_spec, y_test, positions = train_spec, y[te], (tr, te)
        y = y[tr]
    else:
        test_spec = {"name": name, "args": {**common, **test_args}}
        y_test = _labels(make_torchvision_dataset(name, test_spec["args"]), f"{name} test", progress=show_progress())
        positions = (np.arange(len(y)), np.arange(len(y_test)))
    labels = np.concatenate([y, y_test])
    classes, relabel = _class_names(train, labels)
    if labels.min() < 0 or labels.max() >= len(classes):
        raise ValueError(
            f"{name}: labels fall outside 0..{len(classes) - 1} ({len(classes)} classes)"
        )
    y, y_test = relabel[y].astype(np.int64), relabel[y_test].astype(np.int64)
    order_train = rng_for("torchvision", seed, "order_train").permutation(len(y))
    order_test = rng_for("torchvision", seed, "order_test").permutation(len(y_test))
    fingerprint = hashlib.blake2b(
        json.dumps([train_spec, test_spec, int(seed), len(y), len(y_test)], sort_keys=True, default=str).encode(),
        digest_size=16,
    ).hexdigest()
    from .stream import TorchvisionSource  # imports torch: only when a dataset is built

    train_source = TorchvisionSource(train_spec, positions[0][order_train], y[order_train], f"{fingerprint}/train")
    test_source = TorchvisionSource(test_spec, positions[1][order_test], y_test[order_test], f"{fingerprint}/test")
    return StreamedDataset(train_source, test_source, classes, image_size, fingerprint)

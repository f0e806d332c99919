"""PASCAL VOC 2007 as a single-label classification target: a CSV manifest of its images.

VOC 2007 classification is multi-label: an image shows objects of one or
more of 20 classes. The benchmark's targets are single-label (one class per
image, top-1 accuracy), so the standard benchmark's ``voc2007`` target
keeps the images whose annotated objects (difficult ones included) all
belong to one class, labelled with that class; images showing objects of
two or more classes are left out. Train is VOC's ``trainval`` set, test its
``test`` set. Which reading the published fine-tuned accuracies
(``data/published/``) used is not recorded there; this one is ours.

:func:`write_single_label_manifest` downloads VOC 2007 through torchvision's
``VOCDetection`` (its URLs and md5 sums), reads the annotation XML files
(not the images) and writes a ``path,label,split`` CSV manifest that the
``csv`` dataset kind reads (``zooselect.data``), paths relative to the
manifest's folder. The workflow's ``voc_single_label`` rule runs it.
"""

from __future__ import annotations

import csv
import logging
import os
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

#: VOC 2007's image sets: the benchmark's split -> VOC's image set.
SPLITS = {"train": "trainval", "test": "test"}


def object_classes(annotation: str | Path) -> list[str]:
    """The class name of every object annotated in one VOC XML file (difficult ones too)."""
    root = ET.parse(annotation).getroot()
    return [(node.findtext("name") or "").strip() for node in root.iter("object")]


def single_label(classes: Iterable[str]) -> str | None:
    """The image's one class when all its objects share it; None for none or several."""
    distinct = set(classes)
    return distinct.pop() if len(distinct) == 1 else None


def single_label_rows(
    images: Iterable[str | Path], annotations: Iterable[str | Path], split: str, folder: str | Path
) -> tuple[list[dict[str, str]], int]:
    """Manifest rows (``path`` relative to `folder`, ``label``, ``split``) of the single-class
    images among `images` (each with its annotation file), and how many were left out."""
    rows, left_out = [], 0
    for image, annotation in zip(images, annotations, strict=True):
        label = single_label(object_classes(annotation))
        if label is None:
            left_out += 1
            continue
        rows.append({"path": os.path.relpath(image, folder), "label": label, "split": split})
    return rows, left_out


def write_single_label_manifest(
    out: str | Path, root: str | Path = "resources/torchvision", year: str = "2007", download: bool = True
) -> dict[str, int]:
    """Write the single-label manifest of VOC `year` (train: trainval, test: test) to `out`.

    root: where torchvision keeps (and, with `download`, fetches) VOC's
    archives and their ``VOCdevkit`` folder. Returns images per split and
    the count left out; the file is written under a temporary name first.
    """
    from torchvision.datasets import VOCDetection

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows, counts = [], {}
    for split, image_set in SPLITS.items():
        voc = VOCDetection(str(root), year=year, image_set=image_set, download=download)
        split_rows, left_out = single_label_rows(voc.images, voc.annotations, split, out.parent)
        rows += split_rows
        counts[split], counts[f"{split}_left_out"] = len(split_rows), left_out
        log.info(
            "VOC %s %s: %d single-class images kept, %d with several classes left out; per class: %s",
            year, image_set, len(split_rows), left_out, dict(sorted(Counter(r["label"] for r in split_rows).items())),
        )  # fmt: skip
    partial = out.with_name(out.name + ".partial")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "split"])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, out)
    return counts

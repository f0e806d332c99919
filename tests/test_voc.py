"""VOC 2007 as a single-label target: the images whose objects all share one class, as a manifest."""

import csv

import numpy as np
from PIL import Image

from zooselect.data import build_dataset
from zooselect.voc import object_classes, single_label, write_single_label_manifest

# image id -> the classes of its annotated objects, and the VOC image set it belongs to
IMAGES = {
    "000001": (["dog"], "trainval"),
    "000002": (["cat", "cat"], "trainval"),
    "000003": (["dog", "person"], "trainval"),  # two classes: left out
    "000004": (["dog", "dog"], "trainval"),
    "000005": (["cat"], "trainval"),
    "000006": (["cat"], "test"),
    "000007": (["dog"], "test"),
    "000008": (["person", "cat"], "test"),  # two classes: left out
}


def _annotation(classes):
    objects = "".join(
        f"<object><name>{name}</name><difficult>{i % 2}</difficult>"
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object>"
        for i, name in enumerate(classes)
    )
    return f"<annotation><filename>x.jpg</filename>{objects}</annotation>"


def fake_voc(root):
    """A VOCdevkit/VOC2007 folder as torchvision's VOCDetection reads it (no download)."""
    voc = root / "VOCdevkit" / "VOC2007"
    for folder in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (voc / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for image_id, (classes, _) in IMAGES.items():
        (voc / "Annotations" / f"{image_id}.xml").write_text(_annotation(classes))
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(voc / "JPEGImages" / f"{image_id}.jpg")
    for image_set in ("trainval", "test"):
        ids = [i for i, (_, s) in IMAGES.items() if s == image_set]
        (voc / "ImageSets" / "Main" / f"{image_set}.txt").write_text("\n".join(ids) + "\n")
    return voc


def test_an_image_is_kept_only_when_all_its_objects_share_one_class(tmp_path):
    voc = fake_voc(tmp_path)
    assert object_classes(voc / "Annotations" / "000003.xml") == ["dog", "person"]
    assert single_label(["cat", "cat"]) == "cat" and single_label(["dog", "person"]) is None and single_label([]) is None


def test_the_manifest_lists_single_class_images_and_the_csv_kind_reads_it(tmp_path):
    fake_voc(tmp_path / "tv")
    out = tmp_path / "voc2007" / "single_label.csv"
    counts = write_single_label_manifest(out, tmp_path / "tv", download=False)
    assert counts == {"train": 4, "train_left_out": 1, "test": 2, "test_left_out": 1}
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["path"].rsplit("/", 1)[1], r["label"], r["split"]) for r in rows] == [
        ("000001.jpg", "dog", "train"), ("000002.jpg", "cat", "train"), ("000004.jpg", "dog", "train"),
        ("000005.jpg", "cat", "train"), ("000006.jpg", "cat", "test"), ("000007.jpg", "dog", "test"),
    ]  # fmt: skip
    assert rows[0]["path"].startswith("../tv/VOCdevkit/VOC2007/JPEGImages/")  # relative to the manifest
    dataset = build_dataset("csv", 0, {"path": str(out), "min_images_per_class": 1})
    assert dataset.classes == ["cat", "dog"] and len(dataset.y_train) == 4 and len(dataset.y_test) == 2

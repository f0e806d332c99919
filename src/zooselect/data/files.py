"""Datasets read from image files: a folder per class, a CSV manifest, or an archive at a URL.

All three check every image once and keep a manifest (the images stay on
disk and are decoded when a job streams them), number the classes in sorted
name order, and split train / test by the files' own split when they have
one, else by a seeded stratified split (see
:func:`~zooselect.data.images.dataset_from_files`).
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

from .dataset import StreamedDataset
from .download import fetch_archive
from .images import SPLITS, ImageFile, check_image_options, dataset_from_files, require

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    (".bmp", ".gif", ".jpeg", ".jpg", ".pbm", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")
)
_IGNORED_FOLDERS = ("__MACOSX",)  # resource forks that macOS puts in zip files


def _visible_folders(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name not in _IGNORED_FOLDERS
    )


def folder_files(root: str | os.PathLike) -> list[ImageFile]:
    """The images under ``root``: ``root/<class>/...`` or ``root/{train,test}/<class>/...``.

    Files are found at any depth below a class folder; hidden files and
    folders and files without an image suffix are left out.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"image folder {root} does not exist or is not a folder")
    names = {p.name for p in _visible_folders(root)}
    layout = [(root / s, s) for s in SPLITS] if set(SPLITS) <= names else [(root, None)]
    files, ignored = [], 0
    for folder, split in layout:
        for class_dir in _visible_folders(folder):
            for path in sorted(class_dir.rglob("*")):
                hidden = any(part.startswith(".") for part in path.relative_to(class_dir).parts)
                if hidden or not path.is_file():
                    continue
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    files.append(ImageFile(path, class_dir.name, split))
                else:
                    ignored += 1
    if ignored:
        log.info("%s: left out %d files without an image suffix", root, ignored)
    if not files:
        raise ValueError(f"image folder {root} holds no images in class sub-folders")
    return files


def check_imagefolder_options(
    root: object, image_size: object, test_fraction: object, on_bad_image: object, min_images_per_class: object
) -> None:
    """Check the options of ``imagefolder`` (its classes are the folder's: None, unknown here).
    A required option left unset is not refused here but by the build (see ``require``)."""
    check_image_options(image_size, test_fraction, on_bad_image, min_images_per_class)


def imagefolder(
    seed: int,
    root: str | None = None,
    image_size: int = 32,
    test_fraction: float = 0.2,
    on_bad_image: str = "error",
    min_images_per_class: int = 2,
) -> StreamedDataset:
    """Images in a folder with one sub-folder per class (the sub-folder's name is the class).

    - ``root`` (required): the folder. If it holds both ``train/`` and
      ``test/`` sub-folders, each of them holds the class folders and gives
      the split; otherwise its sub-folders are the classes.
    - ``image_size``: the side the benchmark's own experts see these images
      at (shorter side scaled to it, then centre-cropped); hub experts use
      their own input size. The images themselves stay as they are on disk.
    - ``test_fraction``: without ``train/``/``test/``, this fraction of every
      class (rounded, at least one image each side) goes to test, drawn
      with ``seed``.
    - ``on_bad_image``: "error" stops at an unreadable image, naming its
      file; "skip" leaves it out with a logged warning.
    - ``min_images_per_class``: a class (in each split, when the folder
      gives one) with fewer images stops the build, naming the class.
    """
    require("root", root)
    check_imagefolder_options(root, image_size, test_fraction, on_bad_image, min_images_per_class)
    files = folder_files(root)
    return dataset_from_files(
        "imagefolder", seed, files, image_size, test_fraction, on_bad_image, min_images_per_class
    )


def manifest_files(path: str | os.PathLike) -> list[ImageFile]:
    """The rows of a CSV manifest with columns ``path,label[,split]`` (and a header line)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"manifest {path} does not exist or is not a file")
    files = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        missing = [c for c in ("path", "label") if c not in columns]
        if missing:
            raise ValueError(
                f"manifest {path} lacks the column(s) {', '.join(missing)}; "
                f"it has {', '.join(columns) or 'none'} (expected path,label[,split])"
            )
        has_split = "split" in columns
        for row in reader:
            image, label = (row["path"] or "").strip(), (row["label"] or "").strip()
            split = (row["split"] or "").strip() if has_split else None
            if not image or not label:
                raise ValueError(f"manifest {path}, line {reader.line_num}: empty path or label")
            if has_split and split not in SPLITS:
                raise ValueError(
                    f"manifest {path}, line {reader.line_num}: split {split!r} is not one of "
                    f"{', '.join(SPLITS)}"
                )
            files.append(ImageFile(path.parent / image, label, split))
    if not files:
        raise ValueError(f"manifest {path} lists no images")
    return files


def check_csv_options(
    path: object, image_size: object, test_fraction: object, on_bad_image: object, min_images_per_class: object
) -> None:
    """Check the options of ``csv`` (its classes are the manifest's: None, unknown here)."""
    check_image_options(image_size, test_fraction, on_bad_image, min_images_per_class)


def csv_manifest(
    seed: int,
    path: str | None = None,
    image_size: int = 32,
    test_fraction: float = 0.2,
    on_bad_image: str = "error",
    min_images_per_class: int = 2,
) -> StreamedDataset:
    """Images listed in a CSV manifest: a header, then one ``path,label[,split]`` row per image.

    - ``path`` (required): the manifest. Image paths in it are relative to
      the manifest's folder (absolute paths are kept). ``label`` is the class
      name. ``split``, if the column is there, must be "train" or "test" on
      every row; without it the split is drawn as for ``imagefolder``.
    - ``image_size``, ``test_fraction``, ``on_bad_image``,
      ``min_images_per_class``: as for ``imagefolder`` (a listed file that
      is missing counts as unreadable).
    """
    require("path", path)
    check_csv_options(path, image_size, test_fraction, on_bad_image, min_images_per_class)
    files = manifest_files(path)
    return dataset_from_files(
        "csv", seed, files, image_size, test_fraction, on_bad_image, min_images_per_class
    )


def _data_root(folder: Path, root: str) -> Path:
    if root:
        resolved = (folder / root).resolve()
        if Path(root).is_absolute() or not resolved.is_relative_to(folder.resolve()):
            raise ValueError(f"option 'root' must be a folder inside the archive, got {root!r}")
        return resolved
    entries = [
        p for p in folder.iterdir() if not p.name.startswith(".") and p.name not in _IGNORED_FOLDERS
    ]
    if len(entries) == 1 and entries[0].is_dir() and entries[0].name not in SPLITS:
        return entries[0]  # the archive wraps everything in one top folder
    return folder


def check_url_options(
    url: object,
    sha256: object,
    root: object,
    download_dir: object,
    image_size: object,
    test_fraction: object,
    on_bad_image: object,
    min_images_per_class: object,
) -> None:
    """Check the options of ``url`` (its classes are the archive's: None, unknown here)."""
    check_image_options(image_size, test_fraction, on_bad_image, min_images_per_class)


def url_archive(
    seed: int,
    url: str | None = None,
    sha256: str | None = None,
    root: str = "",
    download_dir: str = "resources/downloads",
    image_size: int = 32,
    test_fraction: float = 0.2,
    on_bad_image: str = "error",
    min_images_per_class: int = 2,
) -> StreamedDataset:
    """An image folder (read as by ``imagefolder``) in a .zip, .tar, .tar.gz or .tgz at a URL.

    - ``url`` (required): where the archive is (http, https, ftp or file).
    - ``sha256`` (required): the archive's sha256; a download that does not
      match stops the build and is removed.
    - ``root``: the image folder's path inside the archive. Empty: the
      archive's top level, or its one top-level folder if it has only one.
    - ``download_dir``: where the archive and its extracted folder are kept and
      reused by later builds (``cache_dir`` before; still read, with a warning).
    - ``image_size``, ``test_fraction``, ``on_bad_image``,
      ``min_images_per_class``: as for ``imagefolder``; the same folder and
      seed give the same dataset as ``imagefolder`` would.
    """
    require("url", url)
    require("sha256", sha256)
    check_url_options(url, sha256, root, download_dir, image_size, test_fraction, on_bad_image, min_images_per_class)
    folder = _data_root(fetch_archive(url, sha256, download_dir), root)
    files = folder_files(folder)
    return dataset_from_files(
        "imagefolder", seed, files, image_size, test_fraction, on_bad_image, min_images_per_class
    )


def folder_stamp(root: str | os.PathLike) -> str:
    """A cheap digest of what an image folder holds: the relative path of every file in it.

    Adding, removing or renaming an image changes it, so the workflow
    re-plans ``prepare_dataset`` (and everything after it) when the folder's
    contents change, and putting things back as they were restores it. No
    file is opened or stat-ed: the cost is a directory walk, even for a
    million images. An image edited in place keeps the stamp; the jobs that
    read it stop at its changed size, and ``--forcerun prepare_dataset``
    re-checks it.
    """
    import hashlib

    root = Path(root)
    if not root.is_dir():
        return "absent"
    digest = hashlib.blake2b(digest_size=16)
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        relative = Path(folder).relative_to(root)
        for name in sorted(files):
            digest.update(f"{relative / name}\n".encode())
    return digest.hexdigest()


def source_stamp(kind: str, options: dict) -> str:
    """What ``prepare_dataset`` re-runs on besides its options: the layout of an image folder
    (``imagefolder``), or the manifest file's size and modification time (``csv``); empty for
    kinds whose options say everything (embedded builders, ``url`` with its sha256, ``torchvision``)."""
    if kind == "imagefolder" and options.get("root"):
        return folder_stamp(options["root"])
    if kind == "csv" and options.get("path"):
        path = Path(options["path"])
        if not path.is_file():
            return "absent"
        stat = path.stat()
        return f"{stat.st_size}-{stat.st_mtime_ns}"
    return ""
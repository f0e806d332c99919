"""Tests of the real-data sources: image folders, CSV manifests, URL archives, torchvision classes.

Everything read here is made in tmp_path; the URL tests serve it from a local
HTTP server, so no test needs the internet.
"""

from __future__ import annotations

import hashlib
import io
import logging
import stat
import tarfile
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zooselect.data import build_dataset, dataset_options, load_dataset, save_dataset
from zooselect.data.stream import decode_image
from zooselect.data.torchvision_sets import _class_names

# class -> the colour channel its images are bright in, so a label can be checked by eye
CHANNEL = {"cat": 0, "dog": 1, "eel": 2}


def _write_image(path: Path, channel: int, seed: int, size=(14, 10), level=200) -> None:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 40, (size[1], size[0], 3), dtype=np.uint8)
    pixels[..., channel] = level
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _make_folder(root: Path, counts: dict[str, int], level: int = 200, seed: int = 0) -> Path:
    for c, n in counts.items():
        for i in range(n):
            suffix = ".jpg" if i % 2 else ".png"
            _write_image(root / c / f"img{i:02d}{suffix}", CHANNEL[c], seed + 100 * i, level=level)
    return root


def _assert_labels_match_colours(x: np.ndarray, y: np.ndarray, classes: list[str]) -> None:
    channel_of = np.array([CHANNEL[c] for c in classes])
    np.testing.assert_array_equal(
        x.reshape(len(x), -1, 3).mean(axis=1).argmax(axis=1), channel_of[y]
    )


def _pixels(ds, split: str) -> np.ndarray:
    """A manifest's images as the benchmark's experts see them (shorter side to image_size, centre crop)."""
    from torchvision.transforms import v2

    from zooselect.models.inputs import ResizeShorter

    crop = v2.Compose([ResizeShorter(ds.image_size), v2.CenterCrop(ds.image_size)])
    source = ds.source(split)
    return np.stack([crop(source.read(i)).permute(1, 2, 0).numpy() for i in range(len(source))])


def _assert_same(a, b) -> None:
    for split in ("train", "test"):
        np.testing.assert_array_equal(_pixels(a, split), _pixels(b, split))
        np.testing.assert_array_equal(a.source(split).labels, b.source(split).labels)
    assert a.classes == b.classes


# --- imagefolder ----------------------------------------------------------------------


def test_imagefolder_builds_images_labels_and_sorted_classes(tmp_path):
    # made in unsorted order, with PNG and JPEG files and a file that is not an image
    root = _make_folder(tmp_path / "pics", {"eel": 5, "cat": 5, "dog": 10})
    (root / "dog" / "notes.txt").write_text("not an image")
    ds = build_dataset("imagefolder", 0, {"root": str(root), "image_size": 16})
    assert ds.classes == ["cat", "dog", "eel"]
    assert len(ds.y_train) + len(ds.y_test) == 20
    assert _pixels(ds, "train").shape[1:] == (16, 16, 3) and _pixels(ds, "train").dtype == np.uint8
    assert ds.y_train.dtype == np.int64
    _assert_labels_match_colours(_pixels(ds, "train"), ds.y_train, ds.classes)
    _assert_labels_match_colours(_pixels(ds, "test"), ds.y_test, ds.classes)
    path = tmp_path / "pics.npz"
    save_dataset(path, ds)
    _assert_same(load_dataset(path), ds)


def test_seeded_split_is_stratified_and_deterministic(tmp_path):
    root = _make_folder(tmp_path / "pics", {"cat": 10, "dog": 10, "eel": 5})
    a, b, c = (build_dataset("imagefolder", s, {"root": str(root)}) for s in (1, 1, 2))
    _assert_same(a, b)
    assert np.bincount(a.y_test).tolist() == [2, 2, 1]  # 20 % of each class, at least one
    assert np.bincount(a.y_train).tolist() == [8, 8, 4]
    assert {x.tobytes() for x in _pixels(a, "test")} != {x.tobytes() for x in _pixels(c, "test")}
    # no image in both splits
    assert not {x.tobytes() for x in _pixels(a, "test")} & {x.tobytes() for x in _pixels(a, "train")}


def test_train_and_test_sub_folders_give_the_split(tmp_path):
    root = tmp_path / "pics"
    _make_folder(root / "train", {"cat": 4, "dog": 4, "eel": 4}, level=120)
    _make_folder(root / "test", {"cat": 2, "dog": 2, "eel": 2}, level=250, seed=7)
    ds = build_dataset("imagefolder", 0, {"root": str(root), "test_fraction": 0.5})
    assert ds.classes == ["cat", "dog", "eel"]
    assert np.bincount(ds.y_train).tolist() == [4, 4, 4]
    assert np.bincount(ds.y_test).tolist() == [2, 2, 2]
    assert _pixels(ds, "train").max(axis=(1, 2, 3)).max() < 200 <= _pixels(ds, "test").max(axis=(1, 2, 3)).min()
    _assert_labels_match_colours(_pixels(ds, "test"), ds.y_test, ds.classes)


def test_images_are_resized_on_the_shorter_side_and_centre_cropped(tmp_path):
    pixels = np.zeros((20, 60, 3), np.uint8)  # wide: red | green | blue thirds
    pixels[:, :20, 0] = pixels[:, 20:40, 1] = pixels[:, 40:, 2] = 255
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    Image.fromarray(pixels).convert("L").save(tmp_path / "gray.png")
    from torchvision.transforms import v2

    from zooselect.models.inputs import ResizeShorter

    crop = v2.Compose([ResizeShorter(10), v2.CenterCrop(10)])
    x = crop(decode_image(tmp_path / "wide.png")).permute(1, 2, 0).numpy()
    assert x.shape == (10, 10, 3) and x.dtype == np.uint8
    # only the green middle third is kept (the filter blurs the outermost columns a little)
    assert (x[:, 1:-1, 1] == 255).all() and (x[:, 1:-1, [0, 2]] == 0).all()
    assert (x[..., 1] > 200).all() and (x[..., [0, 2]] < 60).all()
    assert decode_image(tmp_path / "gray.png").shape == (3, 20, 60)  # grey becomes RGB


def test_a_corrupt_image_stops_naming_its_file(tmp_path):
    root = _make_folder(tmp_path / "pics", {"cat": 4, "dog": 4, "eel": 4})
    bad = root / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(ValueError, match=f"cannot read image {bad}"):
        build_dataset("imagefolder", 0, {"root": str(root)})


def test_a_corrupt_image_can_be_skipped_with_a_warning(tmp_path, caplog):
    root = _make_folder(tmp_path / "pics", {"cat": 4, "dog": 4, "eel": 4})
    good = root / "cat" / "img00.png"
    truncated = root / "cat" / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    with caplog.at_level(logging.WARNING):
        ds = build_dataset("imagefolder", 0, {"root": str(root), "on_bad_image": "skip"})
    assert len(ds.y_train) + len(ds.y_test) == 12
    assert any(str(truncated) in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_a_class_with_too_few_images_is_named(tmp_path):
    root = _make_folder(tmp_path / "pics", {"cat": 4, "dog": 4, "eel": 1})
    with pytest.raises(ValueError, match="class 'eel' has 1 image; at least 2"):
        build_dataset("imagefolder", 0, {"root": str(root)})
    ds = build_dataset("imagefolder", 0, {"root": str(root), "min_images_per_class": 1})
    assert np.bincount(ds.y_train).tolist() == [3, 3, 1]  # a lone image stays in train


def test_skipped_images_can_leave_a_class_too_small(tmp_path):
    root = _make_folder(tmp_path / "pics", {"cat": 4, "dog": 4, "eel": 1})
    (root / "eel" / "bad.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="class 'eel' has 1 image"):
        build_dataset("imagefolder", 0, {"root": str(root), "on_bad_image": "skip"})


def test_split_folders_need_every_class_in_both(tmp_path):
    root = tmp_path / "pics"
    _make_folder(root / "train", {"cat": 3, "dog": 3})
    _make_folder(root / "test", {"cat": 2})
    with pytest.raises(ValueError, match="class 'dog' has 0 images in test"):
        build_dataset("imagefolder", 0, {"root": str(root)})


def test_missing_folder_and_empty_folder_are_named(tmp_path):
    with pytest.raises(ValueError, match="nowhere does not exist"):
        build_dataset("imagefolder", 0, {"root": str(tmp_path / "nowhere")})
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds no images"):
        build_dataset("imagefolder", 0, {"root": str(tmp_path / "empty")})


# --- csv manifest ---------------------------------------------------------------------


def test_csv_manifest_without_split_column(tmp_path):
    root = _make_folder(tmp_path / "data" / "images", {"cat": 5, "dog": 5, "eel": 5})
    rows = [
        f"{p.relative_to(tmp_path / 'data')},{p.parent.name}" for p in sorted(root.rglob("img*"))
    ]
    manifest = tmp_path / "data" / "list.csv"
    manifest.write_text("path,label\n" + "\n".join(rows) + "\n")
    ds = build_dataset("csv", 3, {"path": str(manifest), "image_size": 8})
    assert ds.classes == ["cat", "dog", "eel"]
    assert np.bincount(ds.y_test).tolist() == [1, 1, 1]
    assert _pixels(ds, "train").shape == (12, 8, 8, 3)
    _assert_labels_match_colours(_pixels(ds, "train"), ds.y_train, ds.classes)
    _assert_same(ds, build_dataset("csv", 3, {"path": str(manifest), "image_size": 8}))


def test_csv_manifest_with_split_column(tmp_path):
    root = _make_folder(tmp_path / "images", {"cat": 4, "dog": 4})
    lines = ["label,split,path"]  # any column order
    for i, p in enumerate(sorted(root.rglob("img*"))):
        lines.append(
            f"{p.parent.name},{'test' if i % 4 == 0 else 'train'},images/{p.parent.name}/{p.name}"
        )
    manifest = tmp_path / "list.csv"
    manifest.write_text("\n".join(lines) + "\n")
    ds = build_dataset("csv", 0, {"path": str(manifest), "min_images_per_class": 1})
    assert np.bincount(ds.y_train).tolist() == [3, 3]
    assert np.bincount(ds.y_test).tolist() == [1, 1]


def test_csv_manifest_errors_name_the_problem(tmp_path):
    manifest = tmp_path / "list.csv"
    manifest.write_text("file,label\na.png,cat\n")
    with pytest.raises(ValueError, match="lacks the column\\(s\\) path"):
        build_dataset("csv", 0, {"path": str(manifest)})
    manifest.write_text("path,label,split\na.png,cat,train\nb.png,dog,validation\n")
    with pytest.raises(ValueError, match="line 3: split 'validation'"):
        build_dataset("csv", 0, {"path": str(manifest)})
    manifest.write_text("path,label\na.png,cat\nb.png,cat\nc.png,dog\nd.png,dog\n")
    with pytest.raises(ValueError, match=f"cannot read image {tmp_path / 'a.png'}"):
        build_dataset("csv", 0, {"path": str(manifest)})


# --- url ------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pack(folder: Path, archive: Path, top: str) -> None:
    """Pack ``folder`` as ``top/...`` into a .zip or a .tar.gz."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for p in files:
                zf.write(p, f"{top}/{p.relative_to(folder)}")
    else:
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(folder, arcname=top)


@pytest.mark.parametrize("archive_name", ["pets.tar.gz", "pets.zip"])
def test_url_downloads_verifies_extracts_and_reuses(tmp_path, server, archive_name):
    www, base, requests = server
    folder = _make_folder(tmp_path / "pets", {"cat": 5, "dog": 5, "eel": 5})
    archive = www / archive_name
    _pack(folder, archive, "pets")
    cache = tmp_path / "cache"
    options = {"url": f"{base}/{archive_name}", "sha256": _sha256(archive), "download_dir": str(cache)}
    ds = build_dataset("url", 4, options)
    # the archive's one top folder is entered; the result is what imagefolder reads
    _assert_same(ds, build_dataset("imagefolder", 4, {"root": str(folder)}))
    assert requests == [f"/{archive_name}"]
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporary names left
    archive.unlink()  # a second build reuses the cache
    _assert_same(build_dataset("url", 4, options), ds)
    assert len(requests) == 1



def test_the_old_name_of_download_dir_still_works_with_a_warning(tmp_path, server):
    """cache_dir, download_dir's name before, is read as download_dir (a FutureWarning says so)."""
    www, base, _ = server
    _pack(_make_folder(tmp_path / "pets", {"cat": 3, "dog": 3}), www / "pets.zip", "pets")
    downloads = tmp_path / "downloads"
    options = {"url": f"{base}/pets.zip", "sha256": _sha256(www / "pets.zip")}
    with pytest.warns(FutureWarning, match="'cache_dir' of kind 'url' is now 'download_dir'"):
        ds = build_dataset("url", 0, {**options, "cache_dir": str(downloads)})
    assert ds.classes == ["cat", "dog"] and any(downloads.iterdir())
    with pytest.raises(ValueError, match="give 'download_dir' only"):
        build_dataset("url", 0, {**options, "cache_dir": str(downloads), "download_dir": str(downloads)})

def test_url_root_picks_a_folder_inside_the_archive(tmp_path, server):
    www, base, _ = server
    _make_folder(tmp_path / "bundle" / "set_a", {"cat": 3, "dog": 3})
    (tmp_path / "bundle" / "readme.txt").write_text("two data sets")
    archive = www / "bundle.tgz"
    _pack(tmp_path / "bundle", archive, "bundle")
    options = {
        "url": f"{base}/bundle.tgz",
        "sha256": _sha256(archive),
        "download_dir": str(tmp_path / "c"),
    }
    ds = build_dataset("url", 0, {**options, "root": "bundle/set_a"})
    assert ds.classes == ["cat", "dog"]
    with pytest.raises(ValueError, match="'root' must be a folder inside the archive"):
        build_dataset("url", 0, {**options, "root": "../.."})


def test_wrong_sha256_names_both_hashes_and_leaves_nothing(tmp_path, server):
    www, base, _ = server
    archive = www / "pets.tar.gz"
    _pack(_make_folder(tmp_path / "pets", {"cat": 2, "dog": 2}), archive, "pets")
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(ValueError, match=f"expected {wrong}, got {_sha256(archive)}"):
        build_dataset(
            "url", 0, {"url": f"{base}/pets.tar.gz", "sha256": wrong, "download_dir": str(cache)}
        )
    assert list(cache.iterdir()) == []


def test_unreachable_url_is_named(tmp_path, server):
    _, base, _ = server
    options = {"url": f"{base}/missing.zip", "sha256": "1" * 64, "download_dir": str(tmp_path / "c")}
    with pytest.raises(OSError, match="cannot download .*missing.zip"):
        build_dataset("url", 0, options)
    assert list((tmp_path / "c").iterdir()) == []


def _tar_with(path: Path, *members: tarfile.TarInfo) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            data = b"evil" if m.isfile() else b""
            m.size = len(data)
            tar.addfile(m, io.BytesIO(data) if data else None)


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def _evil_archives(tmp_path: Path) -> list[tuple[str, str, object]]:
    """(file name, refused member, writer) for each kind of escaping archive."""
    outside = tmp_path / "outside"
    ok = _info("pets/cat/ok.txt")

    def zip_with(path, name, link=None):
        with zipfile.ZipFile(path, "w") as zf:
            info = zipfile.ZipInfo(name)
            if link is not None:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, link if link is not None else "evil")

    return [
        ("dotdot.tar.gz", "../evil.txt", lambda p: _tar_with(p, ok, _info("../evil.txt"))),
        (
            "absolute.tar.gz",
            str(outside / "abs.txt"),
            lambda p: _tar_with(p, _info(str(outside / "abs.txt"))),
        ),
        (
            "symlink.tar.gz",
            "pets/link",
            lambda p: _tar_with(
                p, _info("pets/link", tarfile.SYMTYPE, str(outside)), _info("pets/link/x.txt")
            ),
        ),
        (
            "relative_link.tar.gz",
            "up",
            lambda p: _tar_with(p, _info("up", tarfile.SYMTYPE, "../../outside")),
        ),
        (
            "hardlink.tar.gz",
            "pets/h",
            lambda p: _tar_with(p, _info("pets/h", tarfile.LNKTYPE, "../../x")),
        ),
        ("dotdot.zip", "../evil.txt", lambda p: zip_with(p, "../evil.txt")),
        ("symlink.zip", "pets/link", lambda p: zip_with(p, "pets/link", str(outside))),
    ]


def test_archives_reaching_outside_are_refused_and_write_nothing(tmp_path, server):
    www, base, _ = server
    (tmp_path / "outside").mkdir()
    for file_name, member, write in _evil_archives(tmp_path):
        archive = www / file_name
        write(archive)
        cache = tmp_path / "cache" / file_name  # one cache per archive, inside tmp_path
        options = {
            "url": f"{base}/{file_name}",
            "sha256": _sha256(archive),
            "download_dir": str(cache),
        }
        with pytest.raises(ValueError, match=f"refusing archive member '{member}'"):
            build_dataset("url", 0, options)
        # only the verified download is left: no extraction folder, no temporary folder
        assert [p.name for p in cache.iterdir()] == [f"{_sha256(archive)[:12]}-{file_name}"]
        assert list((tmp_path / "outside").iterdir()) == []
        assert (
            not (tmp_path / "cache" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
        )


def test_a_link_redirected_by_a_later_member_is_refused(tmp_path, server):
    www, base, _ = server
    archive = www / "sneaky.tar"
    (tmp_path / "c").mkdir()
    with tarfile.open(archive, "w") as tar:
        for m in (
            _info("sub", tarfile.DIRTYPE),
            _info("l", tarfile.SYMTYPE, "sub"),
            _info("m", tarfile.SYMTYPE, "l/.."),  # -> the extraction folder: allowed now
            _info("l", tarfile.SYMTYPE, "."),  # now m -> the folder's parent
        ):
            tar.addfile(m)
    options = {
        "url": f"{base}/sneaky.tar",
        "sha256": _sha256(archive),
        "download_dir": str(tmp_path / "c"),
    }
    with pytest.raises(ValueError, match="refusing archive member"):
        build_dataset("url", 0, options)
    assert [p.name for p in (tmp_path / "c").iterdir()] == [f"{_sha256(archive)[:12]}-sneaky.tar"]


# --- torchvision ----------------------------------------------------------------------

FAKE = {"size": 24, "image_size": [3, 20, 28], "num_classes": 3}


def test_torchvision_fakedata_end_to_end():
    options = {
        "name": "FakeData",
        "train_args": FAKE,
        "test_args": {**FAKE, "size": 9, "random_offset": 1000},
        "image_size": 12,
    }
    ds = build_dataset("torchvision", 0, options)
    assert _pixels(ds, "train").shape == (24, 12, 12, 3) and _pixels(ds, "test").shape == (9, 12, 12, 3)
    assert ds.classes == ["0", "1", "2"]  # FakeData has no class names
    assert not {x.tobytes() for x in _pixels(ds, "train")} & {x.tobytes() for x in _pixels(ds, "test")}
    _assert_same(ds, build_dataset("torchvision", 0, options))
    # without test arguments a class with no train/split argument is split by test_fraction
    split = build_dataset(
        "torchvision", 0, {"name": "FakeData", "train_args": FAKE, "test_fraction": 0.25}
    )
    assert len(split.y_train) + len(split.y_test) == 24 and len(split.y_test) >= 3


def test_torchvision_unknown_name_lists_close_matches():
    with pytest.raises(
        ValueError, match="unknown torchvision dataset 'cifar1O'; close matches: CIFAR10"
    ):
        build_dataset("torchvision", 0, {"name": "cifar1O"})
    with pytest.raises(ValueError, match="close matches: .*Flowers102"):
        build_dataset("torchvision", 0, {"name": "Flowers"})


def test_torchvision_labels_follow_sorted_class_names():
    names, relabel = _class_names(
        types.SimpleNamespace(classes=["dog", "cat", "eel"]), np.array([0, 1])
    )
    assert names == ["cat", "dog", "eel"] and relabel.tolist() == [1, 0, 2]
    names, relabel = _class_names(object(), np.array([0, 11, 3]))
    assert names == [str(i) for i in range(12)] and relabel.tolist() == list(range(12))


# --- the registry ---------------------------------------------------------------------


def test_options_of_the_new_kinds():
    image = {
        "image_size": 32,
        "test_fraction": 0.2,
        "on_bad_image": "error",
        "min_images_per_class": 2,
    }
    assert dataset_options("imagefolder") == {"root": None, **image}
    assert dataset_options("csv") == {"path": None, **image}
    assert dataset_options("url") == {
        "url": None,
        "sha256": None,
        "root": "",
        "download_dir": "resources/downloads",
        **image,
    }
    assert dataset_options("torchvision") == {
        "name": None,
        "root": "resources/torchvision",
        "download": True,
        "train_args": None,
        "test_args": None,
        "image_size": 32,
        "test_fraction": 0.2,
    }


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (
            "imagefolder",
            {"root": "x", "size": 8},
            "unknown option 'size' for dataset kind 'imagefolder'; valid options: image_size, "
            "min_images_per_class, on_bad_image, root, test_fraction",
        ),
        ("url", {"sha": "0"}, "unknown option 'sha' for dataset kind 'url'"),
        ("imagefolder", {}, "option 'root' is required"),
        ("csv", {}, "option 'path' is required"),
        ("url", {"url": "http://127.0.0.1:9/x.zip"}, "option 'sha256' is required"),
        ("torchvision", {}, "option 'name' is required"),
        (
            "imagefolder",
            {"root": "x", "on_bad_image": "ignore"},
            "'on_bad_image' must be one of error, skip",
        ),
        (
            "imagefolder",
            {"root": "x", "test_fraction": 1.5},
            "'test_fraction' must lie strictly between 0 and 1",
        ),
        ("csv", {"path": "x", "image_size": 0}, "'image_size' must be at least 1"),
        (
            "url",
            {"url": "http://127.0.0.1:9/x.zip", "sha256": "abc"},
            "sha256 must be 64 hexadecimal digits",
        ),
        ("torchvision", {"name": "FakeData", "train_args": [1]}, "'train_args' must be a mapping"),
    ],
)
def test_bad_options_are_rejected(kind, options, message):
    with pytest.raises(ValueError, match=message):
        build_dataset(kind, 0, options)

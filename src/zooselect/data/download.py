"""Download a file verified against its sha256, and extract an archive without escaping its folder.

Everything is written under a temporary name and renamed when complete, so
an interrupted download or extraction leaves nothing that looks finished; a
verified download and a completed extraction are reused by later calls.
Archive members that would land outside the extraction folder (absolute
paths, ``..``, links pointing outside, device files) are refused, naming the
member, before anything is written for them.
"""

from __future__ import annotations

import hashlib
import logging
import ntpath
import os
import posixpath
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from ..progress import show_progress

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def check_sha256(sha256: object) -> str:
    """A sha256 given as 64 hexadecimal digits, returned in lowercase."""
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    return sha256.lower()


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _file_name(url: str) -> str:
    name = posixpath.basename(urllib.parse.urlparse(url).path)
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "download"


def download(url: str, sha256: str, download_dir: str | os.PathLike) -> Path:
    """The file at ``url`` in ``download_dir``, downloaded unless a verified copy is there.

    Raises ValueError naming both hashes when the download does not match
    ``sha256`` (the partial file is removed), OSError when it cannot be fetched.
    """
    sha256 = check_sha256(sha256)
    download_dir = Path(download_dir)
    download_dir.mkdir(parents=True, exist_ok=True)
    path = download_dir / f"{sha256[:12]}-{_file_name(url)}"
    if path.is_file():
        if file_sha256(path) == sha256:
            log.info("reusing %s (sha256 verified)", path)
            return path
        log.warning("%s does not match its sha256 any more: downloading it again", path)
        path.unlink()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=download_dir)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            size = response.headers.get("Content-Length")
            with tqdm(
                total=int(size) if size else None, unit="B", unit_scale=True, desc=path.name,
                file=sys.stderr, mininterval=10, disable=not show_progress(),
            ) as progress:  # fmt: skip
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    progress.update(len(chunk))
        if digest.hexdigest() != sha256:
            raise ValueError(
                f"sha256 mismatch for {url}: expected {sha256}, got {digest.hexdigest()}; "
                "the download was removed"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except urllib.error.URLError as e:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(f"cannot download {url}: {e.reason}") from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("downloaded %s to %s (sha256 verified)", url, path)
    return path


# --- safe extraction ------------------------------------------------------------------


def _refuse(name: str, why: str) -> None:
    raise ValueError(f"refusing archive member '{name}': {why}")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + os.sep)


def _member_path(name: str, folder: str) -> str:
    """Where member ``name`` lands, following links already extracted; refused if outside."""
    if (
        not name
        or name.startswith(("/", "\\"))
        or os.path.isabs(name)
        or ntpath.splitdrive(name)[0]
    ):
        _refuse(name, "absolute path")
    target = os.path.realpath(os.path.join(folder, name))
    if not _inside(target, folder):
        _refuse(name, "it would land outside the extraction folder")
    return target


def _check_link(name: str, link: str, folder: str, hard: bool) -> None:
    base = folder if hard else os.path.realpath(os.path.dirname(os.path.join(folder, name)))
    if not _inside(os.path.realpath(os.path.join(base, link)), folder):
        _refuse(name, f"it links to '{link}', outside the extraction folder")


def _extract_tar(archive: Path, folder: str) -> None:
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # a second guard
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            _member_path(member.name, folder)
            if member.isdev():
                _refuse(member.name, "device or fifo")
            if member.issym() or member.islnk():
                _check_link(member.name, member.linkname, folder, hard=member.islnk())
            try:
                tar.extract(member, folder, set_attrs=False, **safe)
            except tarfile.FilterError as e:
                raise ValueError(f"refusing archive member '{member.name}': {e}") from e


def _extract_zip(archive: Path, folder: str) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = _member_path(info.filename, folder)
            if stat.S_ISLNK(info.external_attr >> 16):
                link = zf.read(info).decode()
                _check_link(info.filename, link, folder, hard=False)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.symlink(link, target)
            elif info.is_dir():
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)


def _check_final_links(folder: str) -> None:
    """A later member may have redirected an earlier link: check every link where it ended."""
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(parent, name)
            if os.path.islink(path) and not _inside(os.path.realpath(path), folder):
                _refuse(os.path.relpath(path, folder), "it links outside the extraction folder")


def _is_zip(archive: Path) -> bool:
    name = archive.name.lower()
    if name.endswith(".zip"):
        return True
    if name.endswith(_TAR_SUFFIXES):
        return False
    if tarfile.is_tarfile(archive):
        return False
    if zipfile.is_zipfile(archive):
        return True
    raise ValueError(f"{archive} is neither a zip nor a tar archive")


def extract(archive: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """Extract a .zip or .tar(.gz/.bz2/.xz) ``archive`` into ``folder`` (reused if it exists).

    The members go to a temporary folder beside ``folder``, renamed to
    ``folder`` when all are out; on any error the temporary folder is removed.
    """
    archive, folder = Path(archive), Path(folder)
    if folder.is_dir():
        log.info("reusing %s", folder)
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = os.path.realpath(
        tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent)
    )
    try:
        (_extract_zip if _is_zip(archive) else _extract_tar)(archive, tmp)
        _check_final_links(tmp)
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not folder.is_dir():  # else another job finished the same extraction first
                raise
            shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("extracted %s to %s", archive, folder)
    return folder


def fetch_archive(url: str, sha256: str, download_dir: str | os.PathLike) -> Path:
    """The folder holding the extracted archive at ``url``: downloaded, verified, extracted once."""
    sha256 = check_sha256(sha256)
    name = _file_name(url)
    for suffix in (".zip", *_TAR_SUFFIXES):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    folder = Path(download_dir) / f"{sha256[:12]}-{name}.d"
    if folder.is_dir():  # only a complete extraction of a verified download has this name
        log.info("reusing %s", folder)
        return folder
    return extract(download(url, sha256, download_dir), folder)

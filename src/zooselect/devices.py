"""Which device a job's network runs on: one leased GPU, or the CPU.

Snakemake counts ``--resources gpu=4`` but hands out no device ids, so four
concurrent GPU jobs would all land on ``cuda:0``. Each GPU job therefore
leases one free device for its lifetime: an exclusive ``fcntl.flock`` on a
lock file per device. The kernel drops the lock when the process ends,
however it ends (exit, crash, SIGKILL), so a dead job never holds a device.
Lock files are never deleted: deleting one while another process waits on
it would let two processes hold "the same" device.

A lock file is named by host and by the device's physical id (its entry of
``CUDA_VISIBLE_DEVICES`` when that is set, else its index), so leases from
different nodes sharing a working directory do not collide, and a job that
SLURM gave one GPU (``CUDA_VISIBLE_DEVICES=3``, seen as ``cuda:0``) leases
"gpu 3", not a "gpu 0" that a neighbour also sees.

Environment variables:

``ZOOSELECT_FAKE_GPU_COUNT``
    Pretend this many GPUs exist (tests, machines without one): devices are
    leased exactly as for real ones, but the network runs on the CPU.
``ZOOSELECT_GPU_LEASE_DIR``
    Where the lock files live (default ``.snakemake/zooselect-gpu-leases``
    under the working directory, i.e. the workflow's directory).
``ZOOSELECT_DEVICE=cpu``
    Run on the CPU even where a GPU exists (no lease is taken).

This module must not choose anything else about a job: threads, seeds and
precision stay where they are.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .options import env_int

if TYPE_CHECKING:
    import torch

# torch is imported only where a real GPU is counted or a device is built:
# leasing itself (and a faked GPU) does not need it.

log = logging.getLogger(__name__)

FAKE_COUNT_ENV = "ZOOSELECT_FAKE_GPU_COUNT"
LEASE_DIR_ENV = "ZOOSELECT_GPU_LEASE_DIR"
DEVICE_ENV = "ZOOSELECT_DEVICE"
DEFAULT_LEASE_DIR = Path(".snakemake") / "zooselect-gpu-leases"


@dataclass
class Lease:
    """A job's device: ``index`` is the leased GPU's index (None on the CPU)."""

    index: int | None = None
    physical_id: str | None = None
    path: Path | None = None
    fake: bool = False
    _fd: int | None = None

    @property
    def device(self) -> "torch.device":
        """The torch device to run on: ``cuda:<index>`` for a real leased GPU, else the CPU."""
        import torch

        if self.index is None or self.fake:
            return torch.device("cpu")
        return torch.device("cuda", self.index)

    def release(self) -> None:
        """Give the device back before the process ends (it is freed at exit anyway)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None

    def describe(self) -> str:
        if self.index is None:
            return "the CPU"
        where = f"GPU {self.index} (physical id {self.physical_id}, lock {self.path})"
        return f"fake {where}, running on the CPU" if self.fake else where


def gpu_count() -> tuple[int, bool]:
    """(number of GPUs this process can use, whether they are faked by ZOOSELECT_FAKE_GPU_COUNT)."""
    fake = os.environ.get(FAKE_COUNT_ENV, "").strip()
    if fake:
        return env_int(FAKE_COUNT_ENV, fake, 0), True
    import torch

    return (torch.cuda.device_count() if torch.cuda.is_available() else 0), False


def physical_ids(count: int) -> list[str]:
    """The physical id of each of the ``count`` visible devices, safe in a file name."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    entries = [entry.strip() for entry in visible.split(",") if entry.strip()] if visible else []
    if len(entries) < count:
        entries = [str(i) for i in range(count)]
    return [re.sub(r"[^A-Za-z0-9_.-]", "_", entry) for entry in entries[:count]]


def lease_dir() -> Path:
    return Path(os.environ.get(LEASE_DIR_ENV) or DEFAULT_LEASE_DIR)


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive flock on ``path``, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(fd)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def lease_device(
    timeout: float | None = None, poll_seconds: float = 1.0, label: str = ""
) -> Lease:
    """Lease a free GPU for this process's lifetime, or return the CPU where there is none.

    Tries the devices in order and takes the first free one; when all are
    leased (more GPU jobs than GPUs, e.g. two workflows on one machine) it
    waits, saying so at once and then once a minute, until one is freed or ``timeout`` seconds
    pass (then TimeoutError). ``label`` (e.g. the job) is written into the
    lock file for whoever wonders who holds a device.
    """
    if os.environ.get(DEVICE_ENV, "").strip().lower() == "cpu":
        return Lease()
    count, fake = gpu_count()
    if count == 0:
        return Lease()
    directory = lease_dir()
    directory.mkdir(parents=True, exist_ok=True)
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname())
    ids = physical_ids(count)
    paths = [directory / f"{host}-gpu{pid}.lock" for pid in ids]
    start = time.monotonic()
    last_note = start - 60  # say so at once when the first pass finds no free device
    while True:
        for index, path in enumerate(paths):
            fd = _try_lock(path)
            if fd is None:
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} host {socket.gethostname()} {label}\n".encode())
            lease = Lease(index, ids[index], path, fake, fd)
            if not fake:
                import torch

                torch.cuda.set_device(lease.device)
            return lease
        now = time.monotonic()
        if timeout is not None and now - start >= timeout:
            raise TimeoutError(f"all {count} GPUs stayed leased for {timeout:g} s (locks in {directory})")
        if now - last_note >= 60:
            log.info("waiting for a free GPU: all %d are leased (locks in %s)", count, directory)
            last_note = now
        time.sleep(poll_seconds)


_current: Lease | None = None


def acquire(label: str = "") -> Lease:
    """This process's lease, taken on first call and kept until the process ends."""
    global _current
    if _current is None:
        _current = lease_device(label=label)
    return _current


def current_device() -> "torch.device":
    """The device of this process's lease (the CPU when none was taken)."""
    return (_current or Lease()).device


def resolve_device(name: str) -> "torch.device":
    """The device a name asks for (``zooselect rank --device``): ``auto`` picks the first GPU where
    there is one; a name torch does not know, or a GPU where torch sees none, raises ValueError."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch sees no GPU")
    return device


def device_of(model: Any) -> Any:
    """The torch device a model's parameters are on (the CPU for a model without any)."""
    import torch

    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def autocast(device: Any) -> Any:
    """bf16 autocast on CUDA; nothing on the CPU, where results stay bit-identical between runs."""
    import contextlib

    import torch

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()

"""GPU leasing: concurrent jobs get distinct devices, and a dead job's device is freed.

The GPUs are faked (ZOOSELECT_FAKE_GPU_COUNT): leasing works the same, the
networks run on the CPU. Each "job" is a real process, since a lease is a
kernel lock held by a process.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from zooselect import devices

# A job: lease a device, report it, hold it until told to stop (stdin closes) or killed.
HOLDER = """
import sys
from zooselect.devices import acquire
lease = acquire(label="test")
print(lease.index, flush=True)
sys.stdin.read()
"""


def start_holder(lease_dir: Path, count: int) -> subprocess.Popen:
    env = {**os.environ, devices.FAKE_COUNT_ENV: str(count), devices.LEASE_DIR_ENV: str(lease_dir)}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )


def leased_index(holder: subprocess.Popen) -> int:
    line = holder.stdout.readline()
    assert line, f"holder exited with {holder.wait()}"
    return int(line)


@pytest.fixture
def fake_gpus(monkeypatch, tmp_path):
    monkeypatch.setenv(devices.LEASE_DIR_ENV, str(tmp_path / "leases"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv(devices.DEVICE_ENV, raising=False)

    def use(count: int) -> Path:
        monkeypatch.setenv(devices.FAKE_COUNT_ENV, str(count))
        return tmp_path / "leases"

    return use


def test_concurrent_jobs_lease_distinct_devices_and_the_next_one_waits(fake_gpus):
    lease_dir = fake_gpus(3)
    holders = [start_holder(lease_dir, 3) for _ in range(3)]
    try:
        assert sorted(leased_index(h) for h in holders) == [0, 1, 2]
        # all three leased: a fourth job waits instead of sharing a device
        with pytest.raises(TimeoutError, match="all 3 GPUs stayed leased"):
            devices.lease_device(timeout=0.5, poll_seconds=0.1)
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()


def test_a_killed_jobs_device_is_freed(fake_gpus):
    lease_dir = fake_gpus(2)
    first, second = start_holder(lease_dir, 2), start_holder(lease_dir, 2)
    try:
        indices = {leased_index(first): first, leased_index(second): second}
        assert set(indices) == {0, 1}
        victim = indices[1]
        victim.send_signal(signal.SIGKILL)  # no clean-up code runs: the kernel drops the lock
        victim.wait()
        lease = devices.lease_device(timeout=5, poll_seconds=0.05)
        assert lease.index == 1 and lease.fake and lease.device == torch.device("cpu")
        lease.release()
    finally:
        for holder in (first, second):
            holder.kill()
            holder.wait()


def test_a_finished_jobs_device_is_freed(fake_gpus):
    lease_dir = fake_gpus(1)
    holder = start_holder(lease_dir, 1)
    assert leased_index(holder) == 0
    holder.stdin.close()  # the job ends normally
    assert holder.wait(timeout=30) == 0
    lease = devices.lease_device(timeout=5, poll_seconds=0.05)
    assert lease.index == 0
    lease.release()


def test_a_waiting_job_gets_the_device_when_it_is_freed(fake_gpus):
    lease_dir = fake_gpus(1)
    holder = start_holder(lease_dir, 1)
    assert leased_index(holder) == 0
    waiter = start_holder(lease_dir, 1)
    time.sleep(1.0)
    assert waiter.poll() is None  # still waiting: nothing printed, nothing leased
    holder.kill()
    holder.wait()
    try:
        assert leased_index(waiter) == 0
    finally:
        waiter.kill()
        waiter.wait()


def test_without_gpus_jobs_run_on_the_cpu_and_take_no_lease(fake_gpus, monkeypatch):
    lease_dir = fake_gpus(0)
    lease = devices.lease_device(timeout=0)
    assert lease.device == torch.device("cpu") and lease.index is None and lease.path is None
    assert not lease_dir.exists() or not list(lease_dir.iterdir())
    monkeypatch.setenv(devices.FAKE_COUNT_ENV, "2")
    monkeypatch.setenv(devices.DEVICE_ENV, "cpu")  # forced onto the CPU even with GPUs
    assert devices.lease_device(timeout=0).index is None


def test_leases_are_named_by_host_and_physical_device(fake_gpus, monkeypatch):
    # A job that SLURM gave GPUs 5 and 7 sees them as 0 and 1, but leases "gpu5" and "gpu7".
    lease_dir = fake_gpus(2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    first = devices.lease_device(timeout=1, poll_seconds=0.05)
    second = devices.lease_device(timeout=1, poll_seconds=0.05)
    try:
        assert (first.index, first.physical_id, second.index, second.physical_id) == (0, "5", 1, "7")
        assert first.path.parent == lease_dir and first.path.name.endswith("-gpu5.lock")
        assert f"pid {os.getpid()}" in first.path.read_text()
    finally:
        first.release()
        second.release()


def test_a_bad_fake_count_is_named(fake_gpus, monkeypatch):
    fake_gpus(1)
    monkeypatch.setenv(devices.FAKE_COUNT_ENV, "two")
    with pytest.raises(ValueError, match="ZOOSELECT_FAKE_GPU_COUNT must be a whole number, got 'two'"):
        devices.lease_device()

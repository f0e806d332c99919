"""What every workflow script does first: log to its file, use its threads.

Scripts stay thin: ``job = start_job(snakemake)`` sends stderr (progress
bars, tracebacks) and logging to the rule's log, and pins torch to the
threads Snakemake gave the job.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any


def start_job(snakemake: Any, uses_torch: bool = False) -> logging.Logger:
    """Redirect stderr and logging to the job's log; set torch's threads."""
    if snakemake.log:
        sys.stderr = open(str(snakemake.log[0]), "w", buffering=1)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    log = logging.getLogger(f"zooselect.{snakemake.rule}")
    log.info("job %s, wildcards %s, threads %d", snakemake.rule, dict(snakemake.wildcards), snakemake.threads)
    if uses_torch:
        use_threads(snakemake.threads)
    return log


def use_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(threads)))


class Stopwatch:
    """Seconds since creation: ``watch.seconds``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start

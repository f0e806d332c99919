"""Suite-wide set-up: torch in the test process uses one thread.

With the default of one thread per core, torch's worker threads spin while
they wait; on a busy 2-core machine that made single tests take over a
minute instead of seconds. Workflow jobs started by the tests set their own
threads (Snakemake's `threads:`), so this touches only in-process tests.
"""

import torch

torch.set_num_threads(1)

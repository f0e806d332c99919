"""Score every expert of the zoo on one (target, regime) with one method."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import pandas as pd

from zooselect.cache import read_cache
from zooselect.io import write_csv
from zooselect.runtime import Stopwatch, start_job
from zooselect.scores import compute_score

log = start_job(snakemake)
method = snakemake.wildcards.method
rows = []
for path in snakemake.input.caches:
    cache = read_cache(path)
    watch = Stopwatch()
    score = compute_score(method, cache, snakemake.params.options)
    rows.append({"expert": cache["expert"], "score": score, "seconds": watch.seconds})
    log.info("%s: %s = %.6g (%.3f s)", cache["expert"], method, score, watch.seconds)
write_csv(snakemake.output[0], pd.DataFrame(rows, columns=["expert", "score", "seconds"]))

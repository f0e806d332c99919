"""Score every expert of the zoo on one (target, regime) with each of the job's methods."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import numpy as np

from zooselect.cache import read_arrays, read_cache
from zooselect.io import write_rows
from zooselect.runtime import Stopwatch, start_job
from zooselect.scores import compute_score, get_method

log = start_job(snakemake)
params = snakemake.params
probe = read_arrays(snakemake.input.probe) if "probe" in snakemake.input.keys() else None
source_means = list(snakemake.input.get("source_means", []))

# The caches (with the probe's features and the source class means where
# they exist) are read once and shared by the job's methods.
caches = []
for position, path in enumerate(snakemake.input.caches):
    cache = read_cache(path)
    if probe is not None:
        if not np.array_equal(probe["indices"], cache["indices"]):
            raise ValueError(f"{path} and {snakemake.input.probe} were sampled from different images")
        cache["probe_features"] = probe["probe_features"]
    if source_means:
        cache.update(read_arrays(source_means[position]))
    caches.append(cache)

for method_name, output in zip(params.methods, snakemake.output):
    method = get_method(method_name)
    rows = []
    for cache in caches:
        watch = Stopwatch()
        score = compute_score(method.name, cache, params.options[method_name])
        rows.append({"expert": cache["expert"], "score": score, "seconds": watch.seconds})
        log.info("%s: %s = %s (%.3f s)", cache["expert"], method.name, score, watch.seconds)
    if method.across_zoo is not None:
        # Compared within each zoo, since each zoo is judged on its own.
        raw = {row["expert"]: row["score"] for row in rows}
        final = {}
        for members in params.zoos.values():
            final.update(method.across_zoo({expert: raw[expert] for expert in members}))
        for row in rows:
            row["score"] = float(final[row["expert"]])
    write_rows(output, rows, ["expert", "score", "seconds"])

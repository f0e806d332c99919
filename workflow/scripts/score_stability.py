"""Score the zoo on S draws of one (target, regime)'s probe set from the target's selection pool."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

import numpy as np

from zooselect.cache import check_attrs, read_arrays
from zooselect.io import write_rows
from zooselect.runtime import Stopwatch, start_job
from zooselect.selection import SCORE_COLUMNS, load_zoo_caches, score_zoo
from zooselect.stability import draw_rows, draw_seed, subset_cache

log = start_job(snakemake)
params = snakemake.params
target, regime = snakemake.wildcards.target, snakemake.wildcards.regime
probe = None
if "probe" in snakemake.input.keys():
    arrays = read_arrays(snakemake.input.probe, required=("indices", "probe_features"))
    check_attrs(snakemake.input.probe, arrays["attrs"], {"target": target})
    # A few-shot probe carries its features on the pool; the full regime's probe set is the pool.
    if "pool_probe_features" in arrays:
        probe = {"indices": arrays["pool_indices"], "probe_features": arrays["pool_probe_features"]}
    else:
        probe = arrays
caches = load_zoo_caches(
    snakemake.input.caches,
    probe=probe,
    source_mean_paths=list(snakemake.input.get("source_means", [])),
    check_layout=True,
)
pool = caches[0]["indices"]
for cache in caches:
    if not np.array_equal(cache["indices"], pool):
        raise ValueError(f"the caches of {target}/full were sampled from different images")

rows = []
for draw in range(params.draws):
    watch = Stopwatch()
    seed = draw_seed(params.seed, target, regime, draw)
    picked = draw_rows(caches[0]["labels"], params.shots, seed)
    results = score_zoo([subset_cache(cache, picked) for cache in caches], params.methods, params.options, params.zoos)
    for method, method_rows in results.items():
        rows += [{"draw": draw, "method": method, **row} for row in method_rows]
    log.info(
        "draw %d (seed %d): %d of the pool's %d images, %d methods in %.1f s",
        draw, seed, len(picked), len(pool), len(results), watch.seconds,
    )
write_rows(snakemake.output.stability, rows, ["draw", "method", *SCORE_COLUMNS])

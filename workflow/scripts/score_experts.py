"""Score every expert of the zoo on one (target, regime) with each of the job's methods."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

from zooselect.cache import read_arrays
from zooselect.io import write_rows
from zooselect.runtime import start_job
from zooselect.selection import load_zoo_caches, score_zoo

log = start_job(snakemake)
params = snakemake.params
# The caches (with the probe's features and the source class means where
# they exist) are read once and shared by the job's methods.
caches = load_zoo_caches(
    snakemake.input.caches,
    probe=read_arrays(snakemake.input.probe) if "probe" in snakemake.input.keys() else None,
    source_mean_paths=list(snakemake.input.get("source_means", [])),
)
results = score_zoo(caches, params.methods, params.options, params.zoos, log)
for method, output in zip(params.methods, snakemake.output.scores, strict=True):
    write_rows(output, results[method], ["expert", "score", "seconds"])

"""Score every expert of the zoo on one (target, regime) with each of the job's methods."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

from zooselect.cache import check_attrs, read_arrays
from zooselect.io import write_rows
from zooselect.runtime import start_job
from zooselect.selection import SCORE_COLUMNS, load_zoo_caches, score_zoo

log = start_job(snakemake)
params = snakemake.params
# The caches (with the probe's features and the source class means where
# they exist) are read once and shared by the job's methods.
# Each file must be what its path says (a cache copied over another is refused, naming it).
probe = None
if "probe" in snakemake.input.keys():
    probe = read_arrays(snakemake.input.probe, required=("indices", "probe_features"))
    wildcards = snakemake.wildcards
    check_attrs(snakemake.input.probe, probe["attrs"], {"target": wildcards.target, "regime": wildcards.regime})
caches = load_zoo_caches(
    snakemake.input.caches,
    probe=probe,
    source_mean_paths=list(snakemake.input.get("source_means", [])),
    check_layout=True,
)
results = score_zoo(caches, params.methods, params.options, params.zoos, log)
for method, output in zip(params.methods, snakemake.output.scores, strict=True):
    write_rows(output, results[method], SCORE_COLUMNS)

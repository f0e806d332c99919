"""The zoo tables: results/tables/source_accuracy.csv and multidomain_accuracy.csv."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

from pathlib import Path

from zooselect.io import read_json, write_csv
from zooselect.runtime import start_job
from zooselect.tables import multidomain_accuracy, source_accuracy
from zooselect.zoo import MULTIDOMAIN_ARCH, Expert, single_domain_name

log = start_job(snakemake)
params = snakemake.params
metrics = {Path(path).stem: read_json(path) for path in snakemake.input.experts}
experts = [
    Expert(e["name"], e["arch"], tuple(e["sources"]), e["init"]) for e in params.experts
]
table = source_accuracy(experts, metrics)
write_csv(snakemake.output.source_accuracy, table)
log.info("source accuracy:\n%s", table.to_string(index=False))

# Each source's single-domain expert of the multi-domain expert's architecture, from scratch.
single_domain = {source: single_domain_name(MULTIDOMAIN_ARCH, source, "scratch") for source in params.sources}
single = {
    source: metrics[name]["source_test_accuracy"] for source, name in single_domain.items() if name in metrics
}
variants = {Path(path).stem: read_json(path) for path in snakemake.input.multidomain}
table = multidomain_accuracy(list(params.sources), single, variants)
write_csv(snakemake.output.multidomain_accuracy, table)
log.info("multi-domain accuracy:\n%s", table.to_string(index=False))

"""PASCAL VOC's single-class images as a CSV manifest (path, label, split) for the csv dataset kind."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

from zooselect.runtime import Stopwatch, start_job
from zooselect.voc import write_single_label_manifest

log = start_job(snakemake)
watch = Stopwatch()
counts = write_single_label_manifest(snakemake.output.manifest, snakemake.params.root, snakemake.wildcards.year)
log.info("wrote %s: %s in %.1f s", snakemake.output.manifest, counts, watch.seconds)

# zooselect: which pre-trained expert should I fine-tune, without fine-tuning them all?
# The stages and their files are described in README.md; the logic lives in rules/common.smk.

from snakemake.utils import min_version

min_version("9.1")


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/experts.smk"
include: "rules/cache.smk"
include: "rules/scores.smk"
include: "rules/finetune.smk"
include: "rules/aggregate.smk"


rule all:
    default_target: True
    input:
        "results/summary.csv",

# zooselect: which pre-trained expert should I fine-tune, without fine-tuning them all?
# The stages and their files are described in README.md; the logic lives in rules/common.smk.

from snakemake.utils import min_version

min_version("9.1")


# The embedded default, unless a config is given with --configfile: that one
# then replaces it instead of being merged into it (a merge would add the
# default's datasets to e.g. config/paper.yaml).
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


report: "report/workflow.rst"


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
        get_final_outputs(),

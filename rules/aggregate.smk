rule aggregate:
    input:
        unpack(get_summary_inputs),
    output:
        summary="results/summary.csv",
    log:
        "results/logs/aggregate.log",
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    params:
        baseline=config["zoo"]["baseline"],
        zoos=get_zoos(),
    script:
        "../workflow/scripts/aggregate.py"


rule zoo_tables:
    input:
        unpack(get_zoo_table_inputs),
    output:
        source_accuracy="results/tables/source_accuracy.csv",
        multidomain_accuracy="results/tables/multidomain_accuracy.csv",
    log:
        "results/logs/zoo_tables.log",
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    params:
        sources=SOURCES,
        experts=get_single_domain_experts(),
        multidomain_arch="resnet",
    script:
        "../workflow/scripts/zoo_tables.py"

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
    script:
        "../workflow/scripts/aggregate.py"

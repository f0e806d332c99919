rule score_experts:
    input:
        caches=get_zoo_caches,
    output:
        "results/scores/{target}/{regime}/{method}.csv",
    log:
        "results/logs/scores/{target}/{regime}/{method}.log",
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    params:
        options=get_method_options,
    script:
        "../workflow/scripts/score_experts.py"

rule score_experts:
    input:
        unpack(get_score_inputs),
    output:
        "results/scores/{target}/{regime}/{method}.csv",
    log:
        "results/logs/scores/{target}/{regime}/{method}.log",
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    params:
        options=get_method_options,
        zoos=get_zoos(),
    script:
        "../workflow/scripts/score_experts.py"

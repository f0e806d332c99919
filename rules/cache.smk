rule extract_cache:
    input:
        checkpoint=get_expert_checkpoint,
        dataset=get_target_dataset,
        split=get_regime_split,
    output:
        "results/cache/{target}/{regime}/{expert}.h5",
    log:
        "results/logs/cache/{target}/{regime}/{expert}.log",
    benchmark:
        "results/benchmarks/cache/{target}/{regime}/{expert}.tsv"
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        images_per_class=config["selection"]["images_per_class"],
        seed=config["seed"],
    script:
        "../workflow/scripts/extract_cache.py"

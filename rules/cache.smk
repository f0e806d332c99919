# One cache per (target, regime, expert). jobs.granularity decides whether a
# job makes one of them or all of one expert's (see common.smk). An expert's
# job also writes its source class means where a method needs them (Domain
# Similarity): a job of their own would cost more in process start than the
# work. A given expert (zoo.given) is loaded from its entry (params.given),
# not from a checkpoint the workflow trained.
rule extract_cache:
    input:
        unpack(get_cache_inputs),
    output:
        **source_means_output(),
        caches=job_outputs("results/cache/{target}/{regime}/{expert}.h5", "tasks"),
    log:
        job_file("results/logs/cache/{target}/{regime}/{expert}.log", "tasks"),
    benchmark:
        job_file("results/benchmarks/cache/{target}/{regime}/{expert}.tsv", "tasks")
    conda:
        "../envs/zooselect.yaml"
    threads: config["jobs"]["threads"]
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=by_granularity(task=60, expert=240),
    params:
        **source_means_params(),
        tasks=get_expert_tasks,
        images_per_class=config["selection"]["images_per_class"],
        gradient_dim=get_gradient_dim,
        gradient_ridge=config["selection"]["gradient_ridge"],
        seed=config["seed"],
        given=get_given_entry,
    script:
        "../workflow/scripts/extract_cache.py"


# With jobs.granularity: task, an expert's source class means are a job of their own.
if not BY_EXPERT:

    rule extract_source_means:
        input:
            checkpoint=get_expert_checkpoint,
            datasets=get_expert_source_datasets,
        output:
            source_means="results/source_means/{expert}.h5",
        log:
            "results/logs/source_means/{expert}.log",
        benchmark:
            "results/benchmarks/source_means/{expert}.tsv"
        conda:
            "../envs/zooselect.yaml"
        threads: config["jobs"]["threads"]
        resources:
            gpu=1,
            mem_mb=16000,
            runtime=60,
        params:
            sources=get_expert_sources,
            images_per_class=config["selection"]["source_images_per_class"],
            seed=config["seed"],
        script:
            "../workflow/scripts/extract_source_means.py"


# RSA's probe network. Where stability draws are made, it also writes its
# features on the target's selection pool (see zooselect.stability).
rule train_probe:
    input:
        unpack(get_probe_inputs),
    output:
        probe="results/probes/{target}/{regime}.h5",
    log:
        "results/logs/probes/{target}/{regime}.log",
    benchmark:
        "results/benchmarks/probes/{target}/{regime}.tsv"
    conda:
        "../envs/zooselect.yaml"
    threads: config["jobs"]["threads"]
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=120,
    params:
        arch=config["selection"]["probe"]["arch"],
        arch_options=config["selection"]["probe"]["options"],
        schedule=config["selection"]["probe"]["schedule"],
        images_per_class=config["selection"]["images_per_class"],
        seed=config["seed"],
    script:
        "../workflow/scripts/train_probe.py"

# One score CSV per (target, regime, method). With jobs.granularity: expert
# one job scores every method on a (target, regime): a scoring job's process
# start costs more than most methods; with task, one job per method.
rule score_experts:
    input:
        unpack(get_score_inputs),
    output:
        scores=job_outputs("results/scores/{target}/{regime}/{method}.csv", "methods"),
    log:
        job_file("results/logs/scores/{target}/{regime}/{method}.log", "methods"),
    benchmark:
        job_file("results/benchmarks/scores/{target}/{regime}/{method}.tsv", "methods")
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=by_granularity(task=60, expert=120),
    params:
        methods=get_job_methods,
        options=get_method_options,
        zoos=get_zoos(),
    script:
        "../workflow/scripts/score_experts.py"


# Stability: every method on S draws of the probe set from the target's
# selection pool (the full regime's caches), one job per (target, regime).
rule score_stability:
    input:
        unpack(get_stability_inputs),
    output:
        stability="results/stability/{target}/{regime}.csv",
    log:
        "results/logs/stability/{target}/{regime}.log",
    benchmark:
        "results/benchmarks/stability/{target}/{regime}.tsv"
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        draws=STABILITY_DRAWS,
        shots=get_regime_shots,
        methods=METHODS,
        options=get_method_options,
        zoos=get_zoos(),
        seed=config["seed"],
    script:
        "../workflow/scripts/score_stability.py"

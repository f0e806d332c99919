# The generic experts are the critical path (every single-domain expert
# initialised from them waits, and they train longest): start them first.


rule train_generic_expert:
    input:
        datasets=get_generic_datasets,
    output:
        checkpoint="results/experts/{arch}-generic.pt",
        metrics="results/experts/{arch}-generic.json",
    log:
        "results/logs/experts/{arch}-generic.log",
    benchmark:
        "results/benchmarks/experts/{arch}-generic.tsv"
    priority: 10
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        expert=get_trained_expert,
        arch_options=get_arch_options,
        schedule=config["training"]["generic"],
        seed=config["seed"],
    script:
        "../workflow/scripts/train_expert.py"


rule train_expert:
    input:
        unpack(get_init_checkpoint),
        datasets=get_source_datasets,
    output:
        checkpoint="results/experts/{arch}-{source}-{init}.pt",
        metrics="results/experts/{arch}-{source}-{init}.json",
    log:
        "results/logs/experts/{arch}-{source}-{init}.log",
    benchmark:
        "results/benchmarks/experts/{arch}-{source}-{init}.tsv"
    priority: 5
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        expert=get_trained_expert,
        arch_options=get_arch_options,
        schedule=config["training"]["expert"],
        seed=config["seed"],
    script:
        "../workflow/scripts/train_expert.py"

# The generic experts are the critical path (every single-domain expert
# initialised from them waits, and they train longest): start them first.
#
# Every training job runs one network on one GPU (resources: gpu=1; on a
# workstation each job leases its own device, see src/zooselect/devices.py).
# One thread: the images sit in memory as tensors, so no loader workers are
# needed, and torch's CPU results depend on its thread count. mem_mb and
# runtime (minutes) are sized for config/paper.yaml on a current GPU node;
# profiles/slurm overrides them per cluster.


rule train_generic_expert:
    input:
        datasets=get_generic_datasets,
    output:
        checkpoint=checkpoint_file(GENERIC_EXPERT),
        metrics=f"results/experts/{GENERIC_EXPERT}.json",
    log:
        f"results/logs/experts/{GENERIC_EXPERT}.log",
    benchmark:
        f"results/benchmarks/experts/{GENERIC_EXPERT}.tsv"
    priority: 10
    conda:
        "../envs/zooselect.yaml"
    threads: config["jobs"]["threads"]
    resources:
        gpu=1,
        mem_mb=64000,
        runtime=2880,
    params:
        expert=get_trained_expert,
        arch_options=get_arch_options,
        schedule=config["training"].get("generic"),
        seed=config["seed"],
    script:
        "../workflow/scripts/train_expert.py"


rule train_expert:
    input:
        unpack(get_init_checkpoint),
        datasets=get_source_datasets,
    output:
        checkpoint=checkpoint_file(SINGLE_DOMAIN_EXPERT),
        metrics=f"results/experts/{SINGLE_DOMAIN_EXPERT}.json",
    log:
        f"results/logs/experts/{SINGLE_DOMAIN_EXPERT}.log",
    benchmark:
        f"results/benchmarks/experts/{SINGLE_DOMAIN_EXPERT}.tsv"
    priority: 5
    conda:
        "../envs/zooselect.yaml"
    threads: config["jobs"]["threads"]
    resources:
        gpu=1,
        mem_mb=32000,
        runtime=1440,
    params:
        expert=get_trained_expert,
        arch_options=get_arch_options,
        schedule=get_expert_schedule,
        seed=config["seed"],
    script:
        "../workflow/scripts/train_expert.py"


# The multi-domain expert: one ResNet per variant trained on every source;
# the job writes one ordinary ResNet checkpoint per zoo entry (a domain's
# parameters), so caches and fine-tuning treat entries like any expert.


rule train_multidomain_expert:
    input:
        datasets=get_all_source_datasets,
    output:
        checkpoints=multidomain_checkpoints(),
        metrics="results/experts/multidomain/{variant}.json",
    log:
        "results/logs/experts/multidomain/{variant}.log",
    benchmark:
        "results/benchmarks/experts/multidomain/{variant}.tsv"
    priority: 10
    conda:
        "../envs/zooselect.yaml"
    threads: config["jobs"]["threads"]
    resources:
        gpu=1,
        mem_mb=32000,
        runtime=1440,
    params:
        variant=get_variant,
        sources=SOURCES,
        entries=get_multidomain_entries,
        arch_options=config["zoo"]["multidomain"]["options"],
        images_per_domain=config["zoo"]["multidomain"]["images_per_domain"],
        schedule=config["training"].get("multidomain"),
        seed=config["seed"],
    script:
        "../workflow/scripts/train_multidomain.py"


# The shared variant has one entry (zoo.SHARED_ENTRY), so its outputs have no
# {variant}: the rule above with its own files and entries.
use rule train_multidomain_expert as train_shared_expert with:
    output:
        checkpoints=[checkpoint_file(SHARED_ENTRY)],
        metrics=f"results/experts/multidomain/{SHARED_VARIANT}.json",
    log:
        f"results/logs/experts/multidomain/{SHARED_VARIANT}.log",
    benchmark:
        f"results/benchmarks/experts/multidomain/{SHARED_VARIANT}.tsv"
    params:
        variant=SHARED_VARIANT,
        entries=[SHARED_ENTRY],

# Fine-tuning every expert on every (target, regime): the ground truth. One
# job per (target, regime, expert), or one per expert doing all its pairs
# (config jobs.granularity; see common.smk). One GPU, one thread, as for
# training (rules/experts.smk); an expert's job does every task, so it runs
# longer than a task's. Given experts (zoo.given) start from their own weights.
rule finetune_expert:
    input:
        unpack(get_task_inputs),
    output:
        results=job_outputs("results/finetune/{target}/{regime}/{expert}.csv", "tasks"),
    log:
        job_file("results/logs/finetune/{target}/{regime}/{expert}.log", "tasks"),
    benchmark:
        job_file("results/benchmarks/finetune/{target}/{regime}/{expert}.tsv", "tasks")
    conda:
        "../envs/zooselect.yaml"
    threads: config["jobs"]["threads"]
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=by_granularity(task=240, expert=1440),
    params:
        tasks=get_expert_tasks,
        lrs=config["finetune"]["lrs"],
        epochs=get_finetune_epochs,
        batch_size=config["finetune"]["batch_size"],
        momentum=config["finetune"]["momentum"],
        weight_decay=config["finetune"]["weight_decay"],
        milestones=config["finetune"]["milestones"],
        seed=config["seed"],
        given=get_given_entry,
    script:
        "../workflow/scripts/finetune_expert.py"

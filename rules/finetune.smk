rule finetune_expert:
    input:
        checkpoint=get_expert_checkpoint,
        dataset=get_target_dataset,
        split=get_regime_split,
    output:
        "results/finetune/{target}/{regime}/{expert}.csv",
    log:
        "results/logs/finetune/{target}/{regime}/{expert}.log",
    benchmark:
        "results/benchmarks/finetune/{target}/{regime}/{expert}.tsv"
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        lrs=config["finetune"]["lrs"],
        epochs=get_finetune_epochs,
        batch_size=config["finetune"]["batch_size"],
        momentum=config["finetune"]["momentum"],
        weight_decay=config["finetune"]["weight_decay"],
        milestones=config["finetune"]["milestones"],
        seed=config["seed"],
    script:
        "../workflow/scripts/finetune_expert.py"

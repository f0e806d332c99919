rule prepare_dataset:
    input:
        unpack(get_dataset_files),
    output:
        dataset="results/data/{dataset}/dataset.npz",
    log:
        "results/logs/data/{dataset}.log",
    priority: 20
    retries: 2
    localrule: True
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    params:
        spec=get_dataset_spec,
        seed=config["seed"],
        # The image folder's layout: adding or removing images re-runs this and everything after it.
        stamp=get_dataset_stamp,
    script:
        "../workflow/scripts/prepare_dataset.py"


rule split_regime:
    input:
        dataset=get_target_dataset,
    output:
        split="results/data/{target}/{regime}.json",
    log:
        "results/logs/data/{target}-{regime}.log",
    retries: 2
    localrule: True
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    params:
        shots=get_regime_shots,
        seed=config["seed"],
    script:
        "../workflow/scripts/split_regime.py"


# PASCAL VOC 2007 as a single-label target (config/standard.yaml's voc2007):
# torchvision's VOCDetection downloads it, and the images whose objects all
# belong to one class are listed in a CSV manifest (zooselect.voc).
rule voc_single_label:
    output:
        manifest=VOC_MANIFEST,
    log:
        "results/logs/data/voc{year}_single_label.log",
    wildcard_constraints:
        year="2007",
    retries: 2
    localrule: True
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    params:
        root="resources/torchvision",
    script:
        "../workflow/scripts/voc_single_label.py"

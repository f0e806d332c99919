rule aggregate:
    input:
        unpack(get_summary_inputs),
    output:
        summary=report(
            "results/summary.csv", caption="../report/summary.rst", category="Tables"
        ),
    log:
        "results/logs/aggregate.log",
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        baseline=config["zoo"]["baseline"],
        zoos=get_zoos(),
        targets=TARGETS,
        ground_truth=get_ground_truth(),
    script:
        "../workflow/scripts/aggregate.py"


rule zoo_tables:
    input:
        unpack(get_zoo_table_inputs),
    output:
        source_accuracy=report(
            "results/tables/source_accuracy.csv",
            caption="../report/zoo_tables.rst",
            category="Tables",
        ),
        multidomain_accuracy=report(
            "results/tables/multidomain_accuracy.csv",
            caption="../report/zoo_tables.rst",
            category="Tables",
        ),
    log:
        "results/logs/zoo_tables.log",
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        sources=SOURCES,
        experts=get_single_domain_experts(),
    script:
        "../workflow/scripts/zoo_tables.py"


# Figures (PNG) and the runtime table; each carries a caption for
# `snakemake --report results/report.html`.


rule stability_summary:
    input:
        unpack(get_stability_summary_inputs),
    output:
        table=report(
            "results/stability.csv",
            caption="../report/stability.rst",
            category="Tables",
        ),
        draws="results/stability_draws.csv",
    log:
        "results/logs/stability_summary.log",
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        baseline=config["zoo"]["baseline"],
        zoos=get_zoos(),
    script:
        "../workflow/scripts/stability_summary.py"


rule zoo_figures:
    input:
        unpack(get_zoo_figure_inputs),
    output:
        topk_gain=report(
            "results/figures/{zoo}/topk_gain.png",
            caption="../report/topk_gain.rst",
            category="Selection",
            subcategory="{zoo}",
        ),
        method_quality=report(
            "results/figures/{zoo}/method_quality.png",
            caption="../report/method_quality.rst",
            category="Selection",
            subcategory="{zoo}",
        ),
    log:
        "results/logs/figures/{zoo}.log",
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        metric=config["report"]["metric"],
    script:
        "../workflow/scripts/zoo_figures.py"


rule figures:
    input:
        unpack(get_figure_inputs),
    output:
        finetune_gains=report(
            "results/figures/finetune_gains.png",
            caption="../report/finetune_gains.rst",
            category="Ground truth",
        ),
        accuracy_vs_shots=report(
            "results/figures/accuracy_vs_shots.png",
            caption="../report/accuracy_vs_shots.rst",
            category="Ground truth",
        ),
        runtime=report(
            "results/tables/runtime.csv",
            caption="../report/runtime.rst",
            category="Tables",
        ),
        runtime_ratios=report(
            "results/tables/runtime_ratios.csv",
            caption="../report/runtime_ratios.rst",
            category="Tables",
        ),
    log:
        "results/logs/figures/figures.log",
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        baseline=config["zoo"]["baseline"],
        method=config["report"]["method"],
        experts=get_figure_experts(),
    script:
        "../workflow/scripts/figures.py"


# Which method to recommend: leave-one-target-out over the targets
# (zooselect.method_choice), for the largest zoo; planned with 3 targets or more.
rule method_choice:
    input:
        summary="results/summary.csv",
    output:
        methods=report(
            "results/tables/method_choice.csv",
            caption="../report/method_choice.rst",
            category="Selection",
        ),
        folds="results/tables/method_choice_folds.csv",
        recommendation="results/method_recommendation.json",
        figure=report(
            "results/figures/method_choice.png",
            caption="../report/method_choice.rst",
            category="Selection",
        ),
    log:
        "results/logs/method_choice.log",
    conda:
        "../envs/zooselect.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        zoo=get_choice_zoo(),
    script:
        "../workflow/scripts/method_choice.py"

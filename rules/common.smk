# Everything computed from the config: validation, the lists that wildcards
# range over, wildcard constraints, and the input/params functions of the rules.

import re
import sys
from pathlib import Path, PurePosixPath

from snakemake.utils import validate

# The library lives in src/; it is pip-installed in the README's set-up, and
# found here (and by the scripts, through workflow/scripts/_bootstrap.py)
# where it is not, e.g. in a conda environment.
sys.path.append(str(Path(workflow.basedir) / "src"))

from zooselect.config import check_config, renamed_keys
from zooselect.data.files import source_stamp
from zooselect.ground_truth import PUBLISHED, ground_truth_label
from zooselect.regimes import FULL, regime_shots
from zooselect.scores import METHODS as METHOD_REGISTRY
from zooselect.zoo import (
    GIVEN,
    INITS,
    MULTI_DOMAIN,
    SHARED_ENTRY,
    SHARED_VARIANT,
    SINGLE_DOMAIN,
    ZOOS,
    domain_entry_name,
    generic_name,
    multidomain_entries,
    single_domain_name,
    zoo_from_config,
)

for renamed in renamed_keys(config):  # old key names are still read, with a warning
    print(f"WARNING: {renamed}", file=sys.stderr)
validate(config, schema="../workflow/schemas/config.schema.yaml")
check_config(config)

SOURCES = list(config["sources"])
TARGETS = list(config["targets"])
DATASETS = SOURCES + TARGETS
REGIMES = list(config["regimes"])
ARCHS = list(config["zoo"]["architectures"])
METHODS = list(config["methods"])
# Zoo entries: the experts the workflow trains, and the given ones (zoo.given:
# torchvision, timm or checkpoint entries in zooselect rank's zoo-entry
# format), which skip training and are otherwise treated alike.
ZOO = zoo_from_config(config)
EXPERTS = list(ZOO)
TRAINED = [name for name, expert in ZOO.items() if not expert.given]
VARIANTS = list(config["zoo"]["multidomain"]["variants"])
# The variants with an entry per domain: rule train_multidomain_expert's (the
# shared variant's one entry is train_shared_expert's).
DOMAIN_VARIANTS = [variant for variant in VARIANTS if variant != SHARED_VARIANT]
# Cache extraction and fine-tuning: one job per (target, regime, expert), or
# one per expert doing all its (target, regime) pairs; scoring: one job per
# (target, regime, method), or one per (target, regime) doing every method
# (config jobs.granularity). A rule is written once; job_outputs and job_file
# give its files at either granularity.
BY_EXPERT = config["jobs"]["granularity"] == "expert"
# The wildcards a job of jobs.granularity: expert does every value of.
BUNDLES = {"tasks": ("target", "regime"), "methods": ("method",)}
# (target, regime) pairs: every regime, unless a target names its own (e.g.
# the paper's few-shot-only targets).
TASKS = [
    (target, regime)
    for target, spec in config["targets"].items()
    for regime in spec.get("regimes", REGIMES)
]
# Stability draws of the probe set (zooselect.stability): made for every
# (target, regime) whose target has a full regime, the draws' selection pool.
STABILITY_DRAWS = config["stability"]["draws"]
STABILITY_TASKS = [
    (target, regime)
    for target, regime in TASKS
    if STABILITY_DRAWS and (target, FULL) in TASKS
]
# Methods that read more than a cache's features, probabilities and labels.
METHOD_INPUTS = {method: set(METHOD_REGISTRY[method].inputs) for method in METHODS}
GRADIENTS_NEEDED = any("gradients" in inputs for inputs in METHOD_INPUTS.values())
# Domain Similarity's source class means (never for given experts: refused at start-up).
SOURCE_MEANS_NEEDED = any("source_means" in inputs for inputs in METHOD_INPUTS.values())
# Judged against a published table of accuracies: then no fine-tuning job is needed.
PUBLISHED_GROUND_TRUTH = config["finetune"]["ground_truth"] == PUBLISHED


def alternation(names):
    return "|".join(re.escape(name) for name in names)


wildcard_constraints:
    dataset=alternation(DATASETS),
    source=alternation(SOURCES),
    target=alternation(TARGETS),
    regime=alternation(REGIMES),
    arch=alternation(ARCHS),
    init=alternation(INITS),
    variant=alternation(DOMAIN_VARIANTS),
    expert=alternation(EXPERTS),
    method=alternation(METHODS),
    zoo=alternation(ZOOS),


# ---- files --------------------------------------------------------------


def dataset_file(name):
    return f"results/data/{name}/dataset.npz"


def checkpoint_file(expert):
    return f"results/experts/{expert}.pt"


# The trained experts' names as file patterns (zooselect.zoo formats every name).
GENERIC_EXPERT = generic_name("{arch}")
SINGLE_DOMAIN_EXPERT = single_domain_name("{arch}", "{source}", "{init}")


def multidomain_checkpoints():
    """The checkpoints of a multi-domain variant with an entry per domain ({variant} left)."""
    return [
        checkpoint_file(domain_entry_name("{variant}", source)) for source in SOURCES
    ]


def split_file(target, regime):
    return f"results/data/{target}/{regime}.json"


# A CSV manifest the workflow writes itself (by voc_single_label: VOC 2007's
# single-class images, for config/standard.yaml's voc2007 target).
VOC_MANIFEST = "resources/voc{year}/single_label.csv"
VOC_MANIFEST_PATTERN = re.compile(r"resources/voc2007/single_label\.csv")


def get_final_outputs():
    return [
        "results/summary.csv",
        # The zoo tables describe the experts the workflow trains.
        *(
            [
                "results/tables/source_accuracy.csv",
                "results/tables/multidomain_accuracy.csv",
            ]
            if TRAINED
            else []
        ),
        "results/tables/runtime.csv",
        "results/tables/runtime_ratios.csv",
        "results/figures/finetune_gains.png",
        "results/figures/accuracy_vs_shots.png",
        *expand("results/figures/{zoo}/topk_gain.png", zoo=get_zoos()),
        *expand("results/figures/{zoo}/method_quality.png", zoo=get_zoos()),
        *(["results/stability.csv"] if STABILITY_TASKS else []),
        *(
            ["results/tables/method_choice.csv", "results/figures/method_choice.png"]
            if len(TARGETS) >= CHOICE_MIN_TARGETS
            else []
        ),
    ]


def stability_files():
    return [
        f"results/stability/{target}/{regime}.csv" for target, regime in STABILITY_TASKS
    ]


def get_zoo_figure_inputs(wildcards):
    """The summary, and the per-draw stability metrics for error bars where there are draws."""
    inputs = {"summary": "results/summary.csv"}
    if STABILITY_TASKS:
        inputs["stability"] = "results/stability_draws.csv"
    return inputs


def get_accuracy_inputs(tasks):
    """Where the accuracies of `tasks` come from: their fine-tune CSVs, or the published table."""
    if PUBLISHED_GROUND_TRUTH:
        return {"published": config["finetune"]["published"]}
    return {
        "finetune": [
            path
            for target, regime in tasks
            for path in expand(
                "results/finetune/{target}/{regime}/{expert}.csv",
                target=target,
                regime=regime,
                expert=EXPERTS,
            )
        ]
    }


def get_stability_summary_inputs(wildcards):
    """Every stability CSV and the fine-tuned accuracies they are judged against."""
    return {"stability": stability_files(), **get_accuracy_inputs(STABILITY_TASKS)}


def get_figure_inputs(wildcards):
    return {
        "summary": "results/summary.csv",
        **get_accuracy_inputs(TASKS),
        "scores": per_task(
            "results/scores/{target}/{regime}/{method}.csv", method=METHODS
        ),
    }


# ---- job granularity ----------------------------------------------------


def job_outputs(pattern, bundle):
    """A rule's outputs: `pattern`, one file a job; with jobs.granularity: expert, the
    files of every value of the bundle (the (target, regime) pairs of TASKS, or METHODS),
    all made by one job."""
    if not BY_EXPERT:
        return [pattern]
    if bundle == "tasks":
        return [
            path
            for target, regime in TASKS
            for path in expand(
                pattern, target=target, regime=regime, allow_missing=True
            )
        ]
    return expand(pattern, method=METHODS, allow_missing=True)


def job_file(pattern, bundle):
    """A rule's log or benchmark record, one per job: `pattern`; with jobs.granularity:
    expert, `pattern` without the bundle's wildcards (a path component each)."""
    if not BY_EXPERT:
        return pattern
    bundled = {f"{{{wildcard}}}" for wildcard in BUNDLES[bundle]}
    path = PurePosixPath(pattern)
    parts = [part for part in path.parent.parts if part not in bundled]
    name = f"{parts.pop()}{path.suffix}" if path.stem in bundled else path.name
    return str(PurePosixPath(*parts, name))


def job_records(pattern, bundle, **wildcards):
    """The benchmark records of every job of a rule whose benchmark is job_file(pattern,
    bundle), over TASKS and `wildcards`, each once."""
    return list(dict.fromkeys(per_task(job_file(pattern, bundle), **wildcards)))


def by_granularity(task, expert):
    """A resource for jobs of one task (`task`) or of an expert's tasks (`expert`)."""
    return expert if BY_EXPERT else task


# ---- input functions ----------------------------------------------------


def get_target_dataset(wildcards):
    return dataset_file(wildcards.target)


def get_source_datasets(wildcards):
    return [dataset_file(wildcards.source)]


def get_generic_datasets(wildcards):
    return [
        dataset_file(source) for source in ZOO[generic_name(wildcards.arch)].sources
    ]


def get_all_source_datasets(wildcards):
    return [dataset_file(source) for source in SOURCES]


def get_expert_tasks(wildcards):
    """The (target, regime) pairs a cache or fine-tuning job does, as dicts."""
    if "target" in wildcards.keys():
        pairs = [(wildcards.target, wildcards.regime)]
    else:
        pairs = TASKS
    return [{"target": target, "regime": regime} for target, regime in pairs]


def get_expert_files(wildcards):
    """What an expert job loads the expert from: the checkpoint the workflow trained, a given
    entry's checkpoint file, or nothing for a torchvision or timm entry (its params carry it).
    """
    expert = ZOO[wildcards.expert]
    if not expert.given:
        return {"checkpoint": checkpoint_file(expert.name)}
    if expert.entry.origin == "checkpoint":
        return {"checkpoint": expert.entry.args["path"]}
    return {}


def get_task_inputs(wildcards):
    """An expert job's checkpoint, and the dataset and split of each of its tasks."""
    tasks = get_expert_tasks(wildcards)
    return {
        **get_expert_files(wildcards),
        "datasets": [dataset_file(task["target"]) for task in tasks],
        "splits": [split_file(task["target"], task["regime"]) for task in tasks],
    }


# Domain Similarity's source class means: with jobs.granularity: expert, an
# expert's cache job makes them (a job of their own would cost more in process
# start than the work); with task, rule extract_source_means.
CACHE_JOB_SOURCE_MEANS = BY_EXPERT and SOURCE_MEANS_NEEDED


def get_cache_inputs(wildcards):
    """A cache job's task inputs, and its source datasets where it makes source class means."""
    inputs = get_task_inputs(wildcards)
    if CACHE_JOB_SOURCE_MEANS:
        inputs["source_datasets"] = get_expert_source_datasets(wildcards)
    return inputs


def source_means_output():
    """A cache job's source class means, where it makes them."""
    if CACHE_JOB_SOURCE_MEANS:
        return {"source_means": "results/source_means/{expert}.h5"}
    return {}


def source_means_params():
    """What a cache job's source class means are computed from, where it makes them."""
    if CACHE_JOB_SOURCE_MEANS:
        return {
            "sources": get_expert_sources,
            "source_images_per_class": config["selection"]["source_images_per_class"],
        }
    return {}


def get_probe_inputs(wildcards):
    """The target and its regime's split; for stability draws, also its full split (the pool)."""
    inputs = {
        "dataset": dataset_file(wildcards.target),
        "split": split_file(wildcards.target, wildcards.regime),
    }
    few_shot = wildcards.regime != FULL
    if few_shot and (wildcards.target, wildcards.regime) in STABILITY_TASKS:
        inputs["pool_split"] = split_file(wildcards.target, FULL)
    return inputs


def get_stability_inputs(wildcards):
    """The full regime's caches of the zoo (the pool), and the probe or source means if needed."""
    inputs = get_score_inputs(wildcards)
    inputs["caches"] = expand(
        "results/cache/{target}/{regime}/{expert}.h5",
        target=wildcards.target,
        regime=FULL,
        expert=EXPERTS,
    )
    return inputs


def get_init_checkpoint(wildcards):
    """The generic expert, for single-domain experts initialised from it."""
    if wildcards.init == "generic":
        return {"init": checkpoint_file(generic_name(wildcards.arch))}
    return {}


def get_expert_checkpoint(wildcards):
    return checkpoint_file(wildcards.expert)


def get_regime_split(wildcards):
    return split_file(wildcards.target, wildcards.regime)


def get_job_methods(wildcards):
    """The methods a scoring job runs: its own, or all of them when scoring is bundled."""
    return [wildcards.method] if "method" in wildcards.keys() else METHODS


def get_score_inputs(wildcards):
    """The zoo's caches, plus the probe or the source class means where a method needs them."""
    inputs = {
        "caches": expand(
            "results/cache/{target}/{regime}/{expert}.h5",
            target=wildcards.target,
            regime=wildcards.regime,
            expert=EXPERTS,
        )
    }
    needs = set().union(
        *(METHOD_INPUTS[method] for method in get_job_methods(wildcards))
    )
    if "probe_features" in needs:
        inputs["probe"] = f"results/probes/{wildcards.target}/{wildcards.regime}.h5"
    if "source_means" in needs:
        inputs["source_means"] = expand(
            "results/source_means/{expert}.h5", expert=EXPERTS
        )
    return inputs


def get_method_options(wildcards):
    """Options of each method of the job, by method (one value each: precise re-runs)."""
    return {method: config["methods"][method] for method in get_job_methods(wildcards)}


def get_expert_source_datasets(wildcards):
    return [dataset_file(source) for source in ZOO[wildcards.expert].sources]


def per_task(pattern, **wildcards):
    """`pattern` expanded for every (target, regime) of TASKS and the given wildcards."""
    return [
        path
        for target, regime in TASKS
        for path in expand(pattern, target=target, regime=regime, **wildcards)
    ]


def get_summary_inputs(wildcards):
    """Scores, the accuracies, caches, and the benchmark records the costs come from."""
    inputs = {
        "scores": per_task(
            "results/scores/{target}/{regime}/{method}.csv", method=METHODS
        ),
        **get_accuracy_inputs(TASKS),
        "caches": per_task(
            "results/cache/{target}/{regime}/{expert}.h5", expert=EXPERTS
        ),
        "score_records": job_records(
            "results/benchmarks/scores/{target}/{regime}/{method}.tsv",
            "methods",
            method=METHODS,
        ),
        "cache_records": job_records(
            "results/benchmarks/cache/{target}/{regime}/{expert}.tsv",
            "tasks",
            expert=EXPERTS,
        ),
    }
    # What the selection costs are read from (zooselect.costs): the probes and the
    # source means where made, and the records of their own jobs.
    needs = set().union(*METHOD_INPUTS.values())
    if "probe_features" in needs:
        inputs["probes"] = per_task("results/probes/{target}/{regime}.h5")
        inputs["probe_records"] = per_task(
            "results/benchmarks/probes/{target}/{regime}.tsv"
        )
    # made only when a method needs them (source_means_output)
    if "source_means" in needs:
        inputs["source_means"] = expand(
            "results/source_means/{expert}.h5", expert=EXPERTS
        )
    if not BY_EXPERT and "source_means" in needs:
        inputs["source_means_records"] = expand(
            "results/benchmarks/source_means/{expert}.tsv", expert=EXPERTS
        )
    if not PUBLISHED_GROUND_TRUTH:
        inputs["finetune_records"] = job_records(
            "results/benchmarks/finetune/{target}/{regime}/{expert}.tsv",
            "tasks",
            expert=EXPERTS,
        )
    return inputs


def get_single_domain_experts():
    """The single-domain zoo's experts as plain dicts (name, arch, sources, init)."""
    return [
        {"name": e.name, "arch": e.arch, "sources": list(e.sources), "init": e.init}
        for e in ZOO.values()
        if e.zoo == SINGLE_DOMAIN
    ]


def get_zoo_table_inputs(wildcards):
    """Training metrics of the single-domain experts and of each multi-domain variant."""
    return {
        "experts": [
            f"results/experts/{e['name']}.json" for e in get_single_domain_experts()
        ],
        "multidomain": expand(
            "results/experts/multidomain/{variant}.json", variant=VARIANTS
        ),
    }


# ---- params functions (one value per hyper-parameter) -------------------


def get_dataset_spec(wildcards):
    name = wildcards.dataset
    spec = config["sources"].get(name) or config["targets"][name]
    return {"kind": spec["kind"], "options": spec.get("options", {})}


def get_dataset_files(wildcards):
    """A csv dataset's manifest, as an input of its prepare job: a rule may write it
    (voc_single_label), and a newer manifest re-runs prepare."""
    spec = get_dataset_spec(wildcards)
    if spec["kind"] == "csv" and spec["options"].get("path"):
        return {"manifest": spec["options"]["path"]}
    return {}


def get_dataset_stamp(wildcards):
    """The image folder or manifest behind a file-backed dataset, as a cheap digest (see
    zooselect.data.files.source_stamp); empty for the other kinds, and for a manifest the
    workflow writes (absent when the run is planned, it would re-run prepare once more).
    """
    spec = get_dataset_spec(wildcards)
    path = str(spec["options"].get("path", ""))
    if spec["kind"] == "csv" and VOC_MANIFEST_PATTERN.fullmatch(path):
        return ""
    return source_stamp(spec["kind"], spec["options"])


def get_regime_shots(wildcards):
    """Images per class of a few-shot regime; 0 for the full training set."""
    return regime_shots(wildcards.regime)


def get_arch_options(wildcards):
    return config["zoo"]["architectures"][wildcards.arch]


def get_finetune_epochs(wildcards):
    """Epochs per regime, for the regimes of the job's tasks only."""
    regimes = {task["regime"] for task in get_expert_tasks(wildcards)}
    return {regime: config["finetune"]["epochs"][regime] for regime in sorted(regimes)}


def get_expert_schedule(wildcards):
    """training.from_generic for experts initialised from the generic one, else training.expert."""
    training = config["training"]
    if wildcards.init == "generic" and "from_generic" in training:
        return training["from_generic"]
    return training["expert"]


def get_gradient_dim(wildcards):
    """Dg for the projected gradients; 0 (no gradients cached) unless a gradient method runs."""
    return config["selection"]["gradient_dim"] if GRADIENTS_NEEDED else 0


def get_expert_sources(wildcards):
    return list(ZOO[wildcards.expert].sources)


def get_given_entry(wildcards):
    """A given expert's zoo entry as canonical JSON (a changed entry re-runs its jobs); empty for
    the experts the workflow trains."""
    expert = ZOO[wildcards.expert]
    return expert.entry.describe() if expert.given else ""


def get_trained_expert(wildcards):
    """The zoo entry a training job produces (name, sources, init)."""
    if "source" in wildcards.keys():
        name = single_domain_name(wildcards.arch, wildcards.source, wildcards.init)
    else:
        name = generic_name(wildcards.arch)
    expert = ZOO[name]
    return {"name": expert.name, "sources": list(expert.sources), "init": expert.init}


def get_variant(wildcards):
    return wildcards.variant


def get_multidomain_entries(wildcards):
    return multidomain_entries(wildcards.variant, SOURCES)


def get_ground_truth():
    """What the summary's ground_truth column says: finetune, or published:<file name>."""
    return ground_truth_label(
        config["finetune"]["ground_truth"], config["finetune"].get("published")
    )


def get_zoos():
    """Expert names per zoo (single_domain, multi_domain, given; those with experts), for the
    summary: each zoo is judged on its own."""
    zoos = {}
    for expert in ZOO.values():
        zoos.setdefault(expert.zoo, []).append(expert.name)
    return {zoo: zoos[zoo] for zoo in ZOOS if zoo in zoos}


# Leave-one-target-out needs a target to hold out and at least two to choose by.
CHOICE_MIN_TARGETS = 3


def get_choice_zoo():
    """The zoo the recommended method is chosen for: the first of get_zoos (the single-domain
    zoo, or the given zoo of config/standard.yaml)."""
    return next(iter(get_zoos()))


def get_figure_experts():
    """The zoo the accuracy-against-shots figure chooses from: the single-domain zoo, or the
    first zoo there is (the given zoo of config/standard.yaml)."""
    zoos = get_zoos()
    return zoos.get(SINGLE_DOMAIN) or next(iter(zoos.values()))

# Everything computed from the config: validation, the lists that wildcards
# range over, wildcard constraints, and the input/params functions of the rules.

import re
import sys
from pathlib import Path

from snakemake.utils import validate

# The library lives in src/; it is pip-installed in the README's set-up, and
# found here (and by the scripts, through workflow/scripts/_bootstrap.py)
# where it is not, e.g. in a conda environment.
sys.path.append(str(Path(workflow.basedir) / "src"))

from zooselect.config import check_config
from zooselect.scores import METHODS as METHOD_REGISTRY
from zooselect.zoo import build_zoo

validate(config, schema="../workflow/schemas/config.schema.yaml")
check_config(config)

SOURCES = list(config["sources"])
TARGETS = list(config["targets"])
DATASETS = SOURCES + TARGETS
REGIMES = list(config["regimes"])
ARCHS = list(config["zoo"]["architectures"])
METHODS = list(config["methods"])
ZOO = build_zoo(ARCHS, SOURCES, config["zoo"]["inits"], config["zoo"]["generic"])
EXPERTS = list(ZOO)
# Methods that read more than a cache's features, probabilities and labels.
METHOD_INPUTS = {method: set(METHOD_REGISTRY[method].inputs) for method in METHODS}
GRADIENTS_NEEDED = any("gradients" in inputs for inputs in METHOD_INPUTS.values())


def alternation(names):
    return "|".join(re.escape(name) for name in names)


wildcard_constraints:
    dataset=alternation(DATASETS),
    source=alternation(SOURCES),
    target=alternation(TARGETS),
    regime=alternation(REGIMES),
    arch=alternation(ARCHS),
    init="scratch|generic",
    expert=alternation(EXPERTS),
    method=alternation(METHODS),


# ---- files --------------------------------------------------------------


def dataset_file(name):
    return f"results/data/{name}/dataset.npz"


def checkpoint_file(expert):
    return f"results/experts/{expert}.pt"


def get_final_outputs():
    return ["results/summary.csv"]


# ---- input functions ----------------------------------------------------


def get_target_dataset(wildcards):
    return dataset_file(wildcards.target)


def get_source_datasets(wildcards):
    return [dataset_file(wildcards.source)]


def get_generic_datasets(wildcards):
    return [dataset_file(source) for source in SOURCES]


def get_init_checkpoint(wildcards):
    """The generic expert, for single-domain experts initialised from it."""
    if wildcards.init == "generic":
        return {"init": checkpoint_file(f"{wildcards.arch}-generic")}
    return {}


def get_expert_checkpoint(wildcards):
    return checkpoint_file(wildcards.expert)


def get_regime_split(wildcards):
    return f"results/data/{wildcards.target}/{wildcards.regime}.json"


def get_score_inputs(wildcards):
    """The zoo's caches, plus the probe or the source class means where the method needs them."""
    inputs = {
        "caches": expand(
            "results/cache/{target}/{regime}/{expert}.h5",
            target=wildcards.target,
            regime=wildcards.regime,
            expert=EXPERTS,
        )
    }
    needs = METHOD_INPUTS[wildcards.method]
    if "probe_features" in needs:
        inputs["probe"] = f"results/probes/{wildcards.target}/{wildcards.regime}.h5"
    if "source_means" in needs:
        inputs["source_means"] = expand(
            "results/source_means/{expert}.h5", expert=EXPERTS
        )
    return inputs


def get_expert_source_datasets(wildcards):
    return [dataset_file(source) for source in ZOO[wildcards.expert].sources]


def get_summary_inputs(wildcards):
    return {
        "scores": expand(
            "results/scores/{target}/{regime}/{method}.csv",
            target=TARGETS,
            regime=REGIMES,
            method=METHODS,
        ),
        "finetune": expand(
            "results/finetune/{target}/{regime}/{expert}.csv",
            target=TARGETS,
            regime=REGIMES,
            expert=EXPERTS,
        ),
        "caches": expand(
            "results/cache/{target}/{regime}/{expert}.h5",
            target=TARGETS,
            regime=REGIMES,
            expert=EXPERTS,
        ),
    }


# ---- params functions (one value per hyper-parameter) -------------------


def get_dataset_spec(wildcards):
    name = wildcards.dataset
    spec = config["sources"].get(name) or config["targets"][name]
    return {"kind": spec["kind"], "options": spec.get("options", {})}


def get_regime_shots(wildcards):
    """Images per class of a few-shot regime; 0 for the full training set."""
    regime = wildcards.regime
    return 0 if regime == "full" else int(regime.removesuffix("shot"))


def get_arch_options(wildcards):
    return config["zoo"]["architectures"][wildcards.arch]


def get_finetune_epochs(wildcards):
    return config["finetune"]["epochs"][wildcards.regime]


def get_method_options(wildcards):
    return config["methods"][wildcards.method]


def get_gradient_dim(wildcards):
    """Dg for the projected gradients; 0 (no gradients cached) unless a gradient method runs."""
    return config["selection"]["gradient_dim"] if GRADIENTS_NEEDED else 0


def get_expert_sources(wildcards):
    return list(ZOO[wildcards.expert].sources)


def get_trained_expert(wildcards):
    """The zoo entry a training job produces (name, sources, init)."""
    if "source" in wildcards.keys():
        name = f"{wildcards.arch}-{wildcards.source}-{wildcards.init}"
    else:
        name = f"{wildcards.arch}-generic"
    expert = ZOO[name]
    return {"name": expert.name, "sources": list(expert.sources), "init": expert.init}

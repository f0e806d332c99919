"""The real snakemake on a miniature of the standard benchmark: given experts, published ground truth.

The zoo is given, not trained (``zoo.given``, zoo entries in the format of
``zooselect rank``'s zoo file): torchvision's ResNet-18 and MobileNetV2 and
timm's ResNet-10-T, all with random weights (nothing can be downloaded
here) and run at 64 px through a ``preprocessing`` override, and a small
zooselect ResNet saved by the test as a plain .safetensors state dict. Two
image-folder targets of 64-px JPEGs, a published table of accuracies
written by the test, every method that runs from caches on given experts.
One module-scoped run; the tests read what it made.

The ``parameter_count`` baseline's weighted tau is worked out by hand: the
table ranks the experts by size on one target (tau 1) and in reverse on the
other (tau -1). ``source_accuracy`` cannot run here: random weights and a
safetensors file publish no source accuracy (their caches record NaN), so
the config check refuses the method at start-up (tests/test_config.py).
"""

import copy
import math

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file
from scipy.stats import weightedtau

from _tiny import planned_jobs, run_snakemake, write_config, write_image_folder
from zooselect.cache import read_attrs
from zooselect.models import create_model
from zooselect.scores import METHODS

pytestmark = pytest.mark.workflow

SIDE = 64
PREPROCESSING = {"size": SIDE, "resize": SIDE, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
GIVEN = {
    "tv_resnet18": {"origin": "torchvision", "model": "resnet18", "weights": None, "preprocessing": PREPROCESSING},
    "tv_mobilenet": {"origin": "torchvision", "model": "mobilenet_v2", "weights": None, "preprocessing": PREPROCESSING},
    "timm_resnet10t": {"origin": "timm", "model": "resnet10t", "pretrained": False, "preprocessing": PREPROCESSING},
    # Relative to the working directory; a zooselect architecture: read at 32 px, each image standardised.
    "tiny": {"origin": "checkpoint", "path": "models/tiny.safetensors", "arch": "resnet", "options": {"width": 4}},
}
# Exactly, as loaded (ImageNet's 1000-class heads; tiny's 5-class head from its state dict).
PARAMETERS = {"tiny": 5129, "tv_mobilenet": 3_504_872, "timm_resnet10t": 5_435_488, "tv_resnet18": 11_689_512}
BY_SIZE = sorted(PARAMETERS, key=PARAMETERS.get)
# The published table: on "calm" the larger the better, on "waves" the smaller the better.
ACCURACY = {
    "calm": dict(zip(BY_SIZE, (0.50, 0.60, 0.70, 0.80))),
    "waves": dict(zip(BY_SIZE, (0.90, 0.80, 0.70, 0.60))),
}
# Every method that can run on given experts from their caches (domain_similarity needs the
# experts' source data, lgc gradients MobileNetV2 and timm lack, source_accuracy a published one).
SKIPPED = {"domain_similarity", "lgc", "source_accuracy"}


def _config(base):
    return {
        "seed": 0,
        "targets": {
            name: {"kind": "imagefolder", "options": {"root": str(base / name), "image_size": 32}}
            for name in ACCURACY
        },
        "regimes": ["full"],
        "zoo": {"architectures": {}, "generic": False, "baseline": "tv_resnet18", "given": copy.deepcopy(GIVEN)},
        "stability": {"draws": 2},
        "selection": {
            "images_per_class": 6,
            "probe": {"options": {"width": 4}, "schedule": {"steps": 5, "batch_size": 16, "lr": 0.05}},
        },
        "methods": {name: ({"k": 3} if name == "knn" else {}) for name in METHODS if name not in SKIPPED},
        "finetune": {
            "ground_truth": "published",
            "published": str(base / "work" / "mini.csv"),
            "lrs": [0.01],
            "epochs": {"full": 1},
            "batch_size": 16,
        },
        "jobs": {"granularity": "expert"},
        "report": {"method": "logme", "metric": "weighted_tau"},
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("hub")
    for seed, name in enumerate(ACCURACY):
        write_image_folder(base / name, {"a": 24, "b": 24, "c": 24}, seed=seed, side=SIDE)
    workdir = base / "work"
    (workdir / "models").mkdir(parents=True)
    torch.manual_seed(0)
    save_file(create_model("resnet", 5, width=4).state_dict(), workdir / "models" / "tiny.safetensors")
    rows = [f"{target},{expert},{accuracy}" for target, by in ACCURACY.items() for expert, accuracy in by.items()]
    (workdir / "mini.csv").write_text("\n".join(["target,expert,test_accuracy", *rows]) + "\n")
    config = _config(base)
    write_config(workdir, config)
    result = run_snakemake(workdir, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir, config


def test_no_expert_is_trained_and_each_is_cached_its_own_way(run):
    workdir, _ = run
    results = workdir / "results"
    assert not (results / "experts").exists() and not (results / "finetune").exists()
    assert not (results / "tables" / "source_accuracy.csv").exists()  # nothing trained: no zoo tables
    for target in ACCURACY:
        for expert, count in PARAMETERS.items():
            attrs = read_attrs(results / "cache" / target / "full" / f"{expert}.h5")
            assert attrs["parameter_count"] == count
            assert math.isnan(attrs["source_accuracy"])  # random weights and a safetensors file publish none
            assert attrs["input"].startswith("resize 32, crop 32" if expert == "tiny" else "resize 64, crop 64")


def test_the_summary_judges_the_given_zoo_against_the_published_table(run):
    workdir, config = run
    summary = pd.read_csv(workdir / "results" / "summary.csv")
    assert (summary.ground_truth == "published:mini.csv").all() and set(summary.zoo) == {"given"}
    assert set(summary.method) == set(config["methods"])
    assert summary.brute_force_seconds.isna().all()  # the published accuracies' cost was not measured here
    taus = summary[summary.method == "parameter_count"].set_index("target").weighted_tau
    # By hand: the table orders the experts by size on calm and in reverse on waves.
    assert taus["calm"] == pytest.approx(1.0) and taus["waves"] == pytest.approx(-1.0)
    assert taus["mean"] == pytest.approx(0.0)
    for target, by in ACCURACY.items():  # and as scipy computes it
        counts = [PARAMETERS[e] for e in by]
        assert taus[target] == pytest.approx(weightedtau(counts, list(by.values())).statistic)
    assert summary.weighted_tau.notna().any() and summary.spearman.notna().any()


def test_stability_draws_figures_and_the_weighted_tau_headline(run):
    workdir, _ = run
    results = workdir / "results"
    assert set(pd.read_csv(results / "stability.csv").zoo) == {"given"}
    for figure in ("given/method_quality.png", "given/topk_gain.png", "finetune_gains.png", "accuracy_vs_shots.png"):
        assert (results / "figures" / figure).read_bytes()[:4] == b"\x89PNG"
    assert (results / "tables" / "runtime.csv").exists()


def test_given_experts_fine_tune_like_trained_ones(run):
    """The fine-tuning jobs are not needed with a published table, but run when asked for."""
    workdir, _ = run
    outputs = [f"results/finetune/calm/full/{expert}.csv" for expert in ("timm_resnet10t", "tv_mobilenet")]
    result = run_snakemake(workdir, *outputs, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    for output in outputs:
        table = pd.read_csv(workdir / output)
        assert list(table.columns[:4]) == ["expert", "lr", "test_accuracy", "seconds"]
        assert table.test_accuracy.between(0, 1).all()


def test_a_changed_entry_or_checkpoint_re_runs_only_its_expert(run):
    workdir, config = run
    assert planned_jobs(workdir) == {}
    downstream = {"score_experts": 2, "score_stability": 2, "aggregate": 1, "stability_summary": 1, "figures": 1,
                  "zoo_figures": 1}  # fmt: skip
    changed = copy.deepcopy(config)
    changed["zoo"]["given"]["tv_mobilenet"]["preprocessing"] = {**PREPROCESSING, "resize": 72}
    write_config(workdir, changed)
    try:
        assert planned_jobs(workdir) == {"extract_cache": 1, **downstream}  # the one expert's job
    finally:
        write_config(workdir, config)
    # The checkpoint file is an input of its expert's jobs: new weights re-run them (Snakemake
    # compares a small input's checksum, so touching it alone would not).
    torch.manual_seed(1)
    save_file(create_model("resnet", 5, width=4).state_dict(), workdir / "models" / "tiny.safetensors")
    assert planned_jobs(workdir) == {"extract_cache": 1, **downstream}

"""The offline check: the target-agnostic baselines on the standard benchmark give the published figures."""

import pytest
from scipy import stats

from zooselect.ground_truth import read_published
from zooselect.standard_baselines import (
    PUBLISHED_ACCURACIES,
    STANDARD_MODELS,
    main,
    standard_baselines,
    standard_caches,
    weighted_tau_table,
)


@pytest.fixture(scope="module")
def summary():
    return standard_baselines()


def test_the_mean_weighted_tau_over_the_11_targets_is_the_published_one(summary):
    table = weighted_tau_table(summary)
    assert len(table) == 11 + 1 and table.index[-1] == "mean"
    assert round(table.loc["mean", "source_accuracy"], 3) == 0.654
    assert round(table.loc["mean", "parameter_count"], 3) == 0.578
    assert round(table.loc["flowers", "source_accuracy"], 3) == 0.252  # the hardest target for both
    assert round(table.loc["flowers", "parameter_count"], 3) == 0.102
    assert (summary.ground_truth == "published:standard_finetune_accuracy.csv").all()


def test_the_summarys_weighted_tau_is_scipys_with_its_defaults(summary):
    """Recomputed here by hand from torchvision's metadata and the published table, without the library."""
    from torchvision.models import get_model_weights

    metas = {model: get_model_weights(model)["IMAGENET1K_V1"].meta for model in STANDARD_MODELS}
    top1 = [metas[model]["_metrics"]["ImageNet-1K"]["acc@1"] for model in STANDARD_MODELS]
    size = [metas[model]["num_params"] for model in STANDARD_MODELS]
    published = read_published(PUBLISHED_ACCURACIES).set_index(["target", "expert"]).test_accuracy
    rows = summary[summary.target != "mean"].set_index(["target", "method"]).weighted_tau
    for target in published.index.unique("target"):
        accuracy = published.loc[target].loc[list(STANDARD_MODELS)].to_numpy()
        assert rows[target, "source_accuracy"] == pytest.approx(stats.weightedtau(top1, accuracy).statistic, abs=1e-12)
        assert rows[target, "parameter_count"] == pytest.approx(stats.weightedtau(size, accuracy).statistic, abs=1e-12)


def test_the_caches_carry_torchvisions_metadata():
    caches = {cache["expert"]: cache["attrs"] for cache in standard_caches()}
    assert list(caches) == list(STANDARD_MODELS)
    assert caches["resnet50"]["source_accuracy"] == pytest.approx(0.7613)
    assert caches["resnet50"]["parameter_count"] == 25_557_032
    assert caches["mobilenet_v2"]["parameter_count"] == min(attrs["parameter_count"] for attrs in caches.values())


def test_the_command_prints_the_table_and_the_published_means(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "0.654" in out and "0.578" in out and "sfda     0.710" in out


def test_the_workflow_counts_the_parameters_torchvision_publishes(monkeypatch):
    """The workflow's parameter_count (the model as loaded with IMAGENET1K_V1, auxiliary heads as
    torchvision keeps them) is the weights' metadata num_params that the offline 0.578 ranks by.
    Built on the meta device, with the download replaced by the architecture's own state dict."""
    import torch
    from torchvision.models import get_model_builder, get_model_weights
    from torchvision.models._api import WeightsEnum

    from zooselect.models.expert_attributes import parameter_count
    from zooselect.models.torchvision_classifiers import torchvision_model
    from zooselect.standard_baselines import STANDARD_MODELS, STANDARD_WEIGHTS

    for arch in STANDARD_MODELS:
        with torch.device("meta"):
            aux = {"aux_logits": True, "init_weights": False} if arch in ("googlenet", "inception_v3") else {}
            state = get_model_builder(arch)(weights=None, **aux).state_dict()
            monkeypatch.setattr(WeightsEnum, "get_state_dict", lambda self, *args, **kwargs: state)
            model = torchvision_model(arch, STANDARD_WEIGHTS)
        assert parameter_count(model) == get_model_weights(arch)[STANDARD_WEIGHTS].meta["num_params"], arch

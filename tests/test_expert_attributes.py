"""The per-expert scalars a cache carries: parameter count and source accuracy, from each kind of expert."""

import logging
import math

import pytest
from torch import nn

from zooselect.models import create_model, load_checkpoint, save_checkpoint
from zooselect.models.expert_attributes import (
    EXPERT_ATTRIBUTES,
    checkpoint_source_accuracy,
    expert_attributes,
    parameter_count,
    source_accuracy,
    timm_source_accuracy,
    torchvision_source_accuracy,
)
from zooselect.scores import ATTRIBUTE_INPUTS


def test_parameter_count_counts_weights_and_biases_and_a_shared_tensor_once():
    assert parameter_count(nn.Linear(3, 2)) == 3 * 2 + 2
    shared = nn.Linear(4, 4)
    assert parameter_count(nn.Sequential(shared, nn.ReLU(), shared)) == 4 * 4 + 4
    assert parameter_count(nn.BatchNorm1d(5)) == 10  # scale and bias; running statistics are buffers


def test_parameter_count_of_a_torchvision_wrapper_is_torchvisions_published_figure():
    from torchvision.models import ResNet50_Weights

    from zooselect.models.torchvision_models import TorchvisionResNet

    model = TorchvisionResNet("resnet50", num_classes=1000)  # random weights: nothing downloaded
    assert parameter_count(model) == ResNet50_Weights.IMAGENET1K_V1.meta["num_params"] == 25_557_032


def test_torchvision_source_accuracy_is_the_weights_imagenet_top1_as_a_fraction(caplog):
    assert torchvision_source_accuracy("resnet50", "IMAGENET1K_V1") == pytest.approx(0.7613)
    assert torchvision_source_accuracy("resnet50", "ResNet50_Weights.IMAGENET1K_V2") == pytest.approx(0.80858)
    assert torchvision_source_accuracy("googlenet", "DEFAULT") == pytest.approx(0.69778)
    with caplog.at_level(logging.WARNING):
        assert math.isnan(torchvision_source_accuracy("resnet50", None))
    assert "without weights (random initialisation)" in caplog.text
    with pytest.raises(ValueError, match="unknown weights 'IMAGENET9K' for architecture 'resnet50'"):
        torchvision_source_accuracy("resnet50", "IMAGENET9K")


def test_timm_source_accuracy_is_nan_with_the_reason(caplog):
    from timm.models import get_pretrained_cfg

    with caplog.at_level(logging.WARNING):
        assert math.isnan(timm_source_accuracy(get_pretrained_cfg("resnet18.a1_in1k")))
    assert "timm resnet18.a1_in1k: timm's pretrained_cfg has no accuracy key" in caplog.text


def test_a_trained_expert_gives_its_checkpointed_source_test_accuracy(tmp_path):
    model = create_model("resnet", 3, width=4)
    path = tmp_path / "resnet-shapes-scratch.pt"
    save_checkpoint(path, model, "resnet", {"width": 4}, ["a", "b", "c"], {"source_test_accuracy": 0.875})
    loaded, info = load_checkpoint(path)
    assert expert_attributes(loaded, info) == {"source_accuracy": 0.875, "parameter_count": parameter_count(model)}
    assert math.isnan(checkpoint_source_accuracy({"final_train_loss": 0.1}))


def test_a_zoo_entry_is_looked_up_by_how_it_was_loaded(caplog):
    linear = nn.Linear(2, 2)
    tv = {"library": "torchvision", "arch": "densenet121", "weights": "IMAGENET1K_V1"}
    assert source_accuracy(linear, tv) == pytest.approx(0.74434)
    with caplog.at_level(logging.WARNING):
        assert math.isnan(source_accuracy(linear, {"format": "safetensors", "arch": "resnet50", "library": "torchvision"}))
        assert math.isnan(source_accuracy(linear, {"library": "timm", "arch": "resnet18", "pretrained": False}))
    assert "weights from a safetensors file carry no source accuracy" in caplog.text
    assert "without pretrained weights" in caplog.text


def test_a_timm_entry_reads_the_models_own_pretrained_cfg(caplog):
    from zooselect.models.timm_models import TimmModel

    model = TimmModel("resnet18.a1_in1k", pretrained=False)  # the cfg, without downloading the weights
    with caplog.at_level(logging.WARNING):
        assert math.isnan(source_accuracy(model, {"library": "timm", "arch": "resnet18.a1_in1k", "pretrained": True}))
    assert "timm resnet18.a1_in1k" in caplog.text


def test_the_attributes_are_the_registrys_scalar_inputs():
    assert set(EXPERT_ATTRIBUTES) == set(ATTRIBUTE_INPUTS) == set(expert_attributes(nn.Linear(1, 1), {"metrics": {}}))

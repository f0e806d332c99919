"""The model registry: every name a zoo can use, its library, and the input each library prepares."""

import pytest
import torch

from zooselect.models.inputs import BENCHMARK_INPUT, imagenet_input
from zooselect.models.registry import LIBRARIES, find_library, library_named


@pytest.mark.parametrize(
    "arch, library",
    [
        ("resnet", "zooselect"),  # ours
        ("resnet50", "zooselect"),  # torchvision's, wrapped for LGC: zooselect's first
        ("mobilenet_v3_small", "torchvision"),
        ("resnet10t", "timm"),
        ("resnet50.a1_in1k", "timm"),  # a timm name with its weights' tag
    ],
)
def test_each_name_belongs_to_the_first_library_that_knows_it(arch, library):
    if library == "timm":
        pytest.importorskip("timm")
    assert find_library(arch).name == library
    assert find_library(arch, "torchvision").name == "torchvision"  # a named library is taken as given


def test_unknown_names_and_libraries_list_the_close_valid_ones():
    pytest.importorskip("timm")
    with pytest.raises(ValueError, match=r"unknown architecture 'mobilenet_v3_smal' \(did you mean mobilenet_v3_small"):
        find_library("mobilenet_v3_smal")
    with pytest.raises(ValueError, match=r"unknown library 'tim' \(did you mean timm\?\); valid libraries: zooselect, torchvision, timm"):
        library_named("tim")


def test_checks_name_the_weights_without_building_or_downloading():
    LIBRARIES["torchvision"].check("resnet18", "IMAGENET1K_V1")
    LIBRARIES["zooselect"].check("densenet121", "DEFAULT")
    with pytest.raises(ValueError, match="unknown weights 'IMAGENET9K' for architecture 'resnet18'"):
        LIBRARIES["torchvision"].check("resnet18", "IMAGENET9K")
    with pytest.raises(ValueError, match="unknown architecture 'resnat'"):
        LIBRARIES["zooselect"].check("resnat")


def test_every_library_builds_the_same_layout_with_its_own_input():
    torch.manual_seed(0)
    ours = LIBRARIES["zooselect"].build("resnet", 5, options={"width": 4})
    assert LIBRARIES["zooselect"].input("resnet", ours) == BENCHMARK_INPUT
    mobile = LIBRARIES["torchvision"].build("mobilenet_v3_small", 5)
    assert LIBRARIES["torchvision"].input("mobilenet_v3_small", mobile) == imagenet_input()
    for model in (ours, mobile):
        assert model.head.out_features == 5
        with torch.no_grad():
            features = model.eval().features(torch.zeros(1, 3, 64, 64))
        assert features.shape == (1, model.feature_dim)
    with pytest.raises(ValueError, match="takes no options"):
        LIBRARIES["torchvision"].build("mobilenet_v3_small", 5, options={"width": 4})


def test_which_names_give_lgc_its_gradients():
    zooselect, torchvision = LIBRARIES["zooselect"], LIBRARIES["torchvision"]
    assert zooselect.gives_gradients("resnet") and zooselect.gives_gradients("densenet169")
    assert torchvision.gives_gradients("resnet50") and not torchvision.gives_gradients("mobilenet_v3_small")
    assert not LIBRARIES["timm"].gives_gradients("resnet10t")

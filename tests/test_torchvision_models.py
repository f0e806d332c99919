"""torchvision's ResNets and DenseNets as zoo architectures (random weights: nothing is downloaded)."""

import pytest
import torch
import torchvision
from torch import nn

from zooselect.experts import initialise_from
from zooselect.gradients import per_sample_gradients, per_sample_gradients_loop
from zooselect.models import ARCHITECTURES, create_model, load_checkpoint, save_checkpoint
from zooselect.models.inputs import BENCHMARK_INPUT
from zooselect.models.registry import LIBRARIES
from zooselect.models.torchvision_models import TORCHVISION_ARCHITECTURES

SMALL = ["resnet18", "densenet121"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: DenseNets run hundreds of small ops, and while other processes
    load this 2-core machine, two OpenMP threads made a forward pass ~100x slower (4.9 s vs 0.04 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _images(n=2, seed=0):
    return torch.randn(n, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def test_registered_beside_our_small_models():
    assert set(TORCHVISION_ARCHITECTURES) == {
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
        "densenet121", "densenet161", "densenet169", "densenet201",
    }  # fmt: skip
    assert set(TORCHVISION_ARCHITECTURES) <= set(ARCHITECTURES)
    assert {"resnet", "densenet"} <= set(ARCHITECTURES)
    assert type(create_model("resnet", 3)).__module__ == "zooselect.models.resnet"


@pytest.mark.parametrize("arch", SMALL)
def test_head_of_features_is_torchvisions_own_forward(arch):
    torch.manual_seed(0)
    reference = getattr(torchvision.models, arch)(weights=None, num_classes=5).eval()
    model = create_model(arch, 5)
    model.load_state_dict(reference.state_dict())  # a plain torchvision state dict, strictly
    model.eval()
    x = _images()
    with torch.no_grad():
        features = model.features(x)
        assert features.shape == (2, model.feature_dim)
        expected = reference(x)
        torch.testing.assert_close(model.head(features), expected, rtol=0, atol=1e-5)
        torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-5)
    # and back: our weights under torchvision's keys load into torchvision's model
    fresh = getattr(torchvision.models, arch)(weights=None, num_classes=5).eval()
    fresh.load_state_dict(model.library_state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("arch", "last_conv"),
    [("resnet18", "body.layer4.1.conv2"), ("densenet121", "body.features.denseblock4.denselayer16.conv2")],
)
def test_features_resume_from_the_last_convolution(arch, last_conv):
    torch.manual_seed(0)
    model = create_model(arch, 4).eval()
    assert model.last_conv is model.get_submodule(last_conv)
    x = _images(3)
    with torch.no_grad():
        conv_input, context = model.split_at_last_conv(x)
        resumed = model.features_from_last_conv(model.last_conv(conv_input), context)
        torch.testing.assert_close(resumed, model.features(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("arch", SMALL)
def test_vmap_gradients_equal_the_per_sample_loop(arch):
    torch.manual_seed(0)
    model = create_model(arch, 6)
    x, y = _images(3), torch.tensor([0, 1, 1])
    fast = per_sample_gradients(model, x, y, 2, batch_size=2)
    slow = per_sample_gradients_loop(model, x, y, 2)
    assert fast.shape == (3, model.last_conv.weight.numel())
    assert fast.abs().max() > 0
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("arch", SMALL)
def test_checkpoint_round_trip_gives_identical_outputs(tmp_path, arch):
    torch.manual_seed(0)
    model = create_model(arch, 3)
    model.train()(_images(4, seed=1))  # move the BatchNorm running statistics off their defaults
    model.eval()
    path = tmp_path / "expert.pt"
    save_checkpoint(path, model, arch, {}, ["a", "b", "c"], {})
    loaded, info = load_checkpoint(path)
    x = _images()
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), model(x), rtol=0, atol=0)
    assert info["spec"] == {"arch": arch, "options": {}, "num_classes": 3}


def test_a_torchvision_state_dict_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None).eval()
    model = create_model("resnet18", 1000)
    model.load_state_dict(reference.state_dict())
    path = tmp_path / "imported.pt"
    save_checkpoint(path, model, "resnet18", {}, [str(i) for i in range(1000)], {})
    loaded, _ = load_checkpoint(path)
    x = _images()
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), reference(x), rtol=0, atol=1e-5)


def test_a_state_dict_that_does_not_fit_is_refused():
    state = torchvision.models.resnet18(weights=None, num_classes=5).state_dict()
    with pytest.raises(RuntimeError, match="head.weight"):  # size mismatch, named with our key
        create_model("resnet18", 3).load_state_dict(state)
    with pytest.raises(RuntimeError, match="Missing key"):
        create_model("resnet34", 5).load_state_dict(state)


def test_head_swap_and_generic_initialisation_work_as_for_our_models(tmp_path):
    torch.manual_seed(0)
    generic = create_model("densenet121", 3)
    save_checkpoint(tmp_path / "generic.pt", generic, "densenet121", {}, ["a", "b", "c"], {})
    expert = create_model("densenet121", 5)
    initialise_from(expert, str(tmp_path / "generic.pt"))  # everything but head.*
    body = expert.body.state_dict()
    for key, value in generic.body.state_dict().items():
        torch.testing.assert_close(body[key], value, rtol=0, atol=0)
    expert.head = nn.Linear(expert.feature_dim, 4)  # what fine-tuning does
    assert expert.eval()(_images()).shape == (2, 4)
    assert expert.state_dict()["head.weight"].shape == (4, expert.feature_dim)


def test_the_papers_architectures_build_and_run():
    x = _images()
    for arch, last_conv, dim in [
        ("resnet101", "body.layer4.2.conv3", 2048),  # Bottleneck
        ("densenet169", "body.features.denseblock4.denselayer32.conv2", 1664),
    ]:
        model = create_model(arch, 10).eval()
        assert model.last_conv is model.get_submodule(last_conv)
        assert model.feature_dim == dim
        with torch.no_grad():
            features = model.features(x)
            assert features.shape == (2, dim)
            assert model(x).shape == (2, 10)
            conv_input, context = model.split_at_last_conv(x)
            resumed = model.features_from_last_conv(model.last_conv(conv_input), context)
        torch.testing.assert_close(resumed, features, rtol=0, atol=1e-5)


def test_a_misspelt_name_gets_the_close_match():
    with pytest.raises(ValueError, match=r"unknown architecture 'resnet1O1' \(did you mean resnet101\b.*resnet152"):
        create_model("resnet1O1", 10)


def test_bad_weights_and_options_are_refused_without_downloading():
    with pytest.raises(ValueError, match="unknown weights 'IMAGENET9K'.*IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT"):
        create_model("resnet101", 10, weights="IMAGENET9K")
    with pytest.raises(ValueError, match="bad options.*width"):
        create_model("resnet18", 10, width=8)


@pytest.fixture
def fake_download(monkeypatch):
    """torchvision's weights download, replaced by a seeded random 1000-class state dict."""
    from torchvision.models._api import WeightsEnum

    torch.manual_seed(1)
    weights = torchvision.models.resnet18(weights=None).state_dict()
    monkeypatch.setattr(WeightsEnum, "get_state_dict", lambda self, *args, **kwargs: dict(weights))
    return weights


def test_pretrained_weights_load_all_but_a_resized_classifier(fake_download):
    torch.manual_seed(0)
    model = create_model("resnet18", 7, weights="DEFAULT")
    state = model.library_state_dict()
    for key, value in fake_download.items():
        if not key.startswith("fc."):
            torch.testing.assert_close(state[key], value, rtol=0, atol=0)
    assert model.head.weight.shape == (7, 512)
    same = create_model("resnet18", 1000, weights="IMAGENET1K_V1")  # same classes: its classifier is kept
    torch.testing.assert_close(same.head.weight, fake_download["fc.weight"], rtol=0, atol=0)


def test_preprocessing_comes_from_the_weights():
    imagenet = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    zooselect = LIBRARIES["zooselect"]  # the registry's: one answer for every library
    default = zooselect.input("resnet101", None)
    assert (default.resize, default.size, (default.mean, default.std)) == (256, 224, imagenet)
    v2 = zooselect.input("resnet101", None, "IMAGENET1K_V2")  # torchvision's newer recipe resizes to 232
    assert (v2.resize, v2.size, (v2.mean, v2.std), v2.interpolation) == (232, 224, imagenet, "bilinear")
    assert zooselect.input("densenet169", None, options={"weights": "DEFAULT"}).resize == 256
    assert LIBRARIES["torchvision"].input("densenet169", None, "DEFAULT") == zooselect.input("densenet169", None, "DEFAULT")
    assert zooselect.input("resnet", None) == BENCHMARK_INPUT  # ours: not torchvision's preparation

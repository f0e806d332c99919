"""Experts for `zooselect rank`: local checkpoint files, any torchvision classifier, input preparation.

Models are built with random weights; nothing is downloaded.
"""

import numpy as np
import pytest
import torch
import torchvision
from safetensors.torch import save_file

from zooselect.models import create_model, save_checkpoint
from zooselect.models.inputs import BENCHMARK_INPUT, InputSpec, benchmark_input, imagenet_input
from zooselect.models.local import load_local_expert, read_tensor_file
from zooselect.models.torchvision_classifiers import TorchvisionClassifier, torchvision_input, torchvision_model


def _same_outputs(a, b, x):
    a.eval(), b.eval()
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


# --- checkpoint files -------------------------------------------------------------------


def test_a_zooselect_checkpoint_needs_nothing_else(tmp_path):
    torch.manual_seed(0)
    model = create_model("resnet", 4, width=4)
    save_checkpoint(tmp_path / "mine.pt", model, "resnet", {"width": 4}, list("abcd"), {})
    loaded, info = load_local_expert(tmp_path / "mine.pt")
    _same_outputs(loaded, model, torch.randn(2, 3, 32, 32))
    assert (info["format"], info["arch"], info["classes"]) == ("zooselect", "resnet", list("abcd"))
    with pytest.raises(ValueError, match="holds architecture 'resnet', not 'densenet'"):
        load_local_expert(tmp_path / "mine.pt", arch="densenet")


@pytest.mark.parametrize("wrap", ["plain", "nested", "dataparallel"])
def test_a_plain_state_dict_with_an_architecture(tmp_path, wrap):
    torch.manual_seed(0)
    model = create_model("densenet", 6, growth=4)
    state = model.state_dict()
    if wrap == "nested":
        state = {"epoch": 3, "state_dict": state}
    elif wrap == "dataparallel":
        state = {f"module.{k}": v for k, v in state.items()}
    torch.save(state, tmp_path / "weights.pt")
    loaded, info = load_local_expert(tmp_path / "weights.pt", arch="densenet", options={"growth": 4})
    _same_outputs(loaded, model, torch.randn(2, 3, 32, 32))
    assert (info["format"], info["library"], info["num_classes"]) == ("state_dict", "zooselect", 6)


def test_a_safetensors_file_of_a_torchvision_model_under_its_own_keys(tmp_path):
    torch.manual_seed(0)
    reference = torchvision.models.mobilenet_v3_small(weights=None, num_classes=7)
    save_file(reference.state_dict(), tmp_path / "mobile.safetensors")
    loaded, info = load_local_expert(tmp_path / "mobile.safetensors", arch="mobilenet_v3_small")
    _same_outputs(loaded, reference, torch.randn(2, 3, 64, 64))
    assert (info["format"], info["library"], info["num_classes"]) == ("safetensors", "torchvision", 7)


def test_a_timm_state_dict_is_found_by_name(tmp_path):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    reference = timm.create_model("resnet10t", pretrained=False, num_classes=3)
    save_file(reference.state_dict(), tmp_path / "t.safetensors")
    loaded, info = load_local_expert(tmp_path / "t.safetensors", arch="resnet10t")
    _same_outputs(loaded, reference, torch.randn(2, 3, 48, 48))
    assert (info["library"], info["num_classes"]) == ("timm", 3)


class _Payload:
    """Unpickling this would create a file: proof that pickled code ran."""

    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_with_pickled_code_is_refused_and_the_code_never_runs(tmp_path):
    marker = tmp_path / "pickled-code-ran"
    payload = _Payload()
    payload.marker = marker
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": payload}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=r"refusing checkpoint .*evil\.pt: it is not a plain tensor file"):
        load_local_expert(tmp_path / "evil.pt", arch="resnet")
    assert not marker.exists()


def test_a_whole_pickled_model_is_refused(tmp_path):
    torch.save(create_model("resnet", 2, width=4), tmp_path / "model.pt")  # the module, not its state dict
    with pytest.raises(ValueError, match="not a plain tensor file.*state_dict"):
        read_tensor_file(tmp_path / "model.pt")


def test_files_that_are_not_checkpoints_are_named(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match=r"cannot read .*junk\.safetensors as a safetensors file"):
        load_local_expert(tmp_path / "junk.safetensors", arch="resnet")
    with pytest.raises(ValueError, match=r"checkpoint .*missing\.pt does not exist"):
        load_local_expert(tmp_path / "missing.pt", arch="resnet")
    torch.save({"lr": 0.1, "epochs": 3}, tmp_path / "settings.pt")
    with pytest.raises(ValueError, match=r"settings\.pt is not a state dict.*'lr'"):
        load_local_expert(tmp_path / "settings.pt", arch="resnet")


def test_a_state_dict_needs_an_architecture_that_fits(tmp_path):
    torch.save(create_model("resnet", 3, width=4).state_dict(), tmp_path / "w.pt")
    with pytest.raises(ValueError, match="plain state dict: give its architecture"):
        load_local_expert(tmp_path / "w.pt")
    with pytest.raises(ValueError, match=r"w\.pt does not fit architecture 'resnet'"):
        load_local_expert(tmp_path / "w.pt", arch="resnet", options={"width": 8})
    with pytest.raises(ValueError, match=r"unknown architecture 'resnet5O' \(did you mean resnet50\b"):
        load_local_expert(tmp_path / "w.pt", arch="resnet5O")


# --- torchvision classifiers beyond ResNet and DenseNet ---------------------------------


def test_any_torchvision_classifier_splits_at_its_last_linear_layer():
    torch.manual_seed(0)
    model = torchvision_model("mobilenet_v3_small", weights=None)
    assert isinstance(model, TorchvisionClassifier) and model.classifier_name == "classifier.3"
    reference = torchvision.models.mobilenet_v3_small(weights=None)
    reference.load_state_dict(model.library_state_dict())
    x = torch.randn(2, 3, 64, 64)
    _same_outputs(model, reference, x)
    with torch.no_grad():
        assert model.features(x).shape == (2, 1024) and model.head.out_features == 1000
    assert not isinstance(torchvision_model("resnet18", weights=None), TorchvisionClassifier)  # the registry's


def test_an_unknown_torchvision_name_lists_close_matches():
    close = r"unknown torchvision model 'mobilenet_v3_smal' \(did you mean mobilenet_v3_small"
    with pytest.raises(ValueError, match=close):
        torchvision_model("mobilenet_v3_smal", weights=None)
    with pytest.raises(ValueError, match="unknown weights 'IMAGENET9K'.*DEFAULT"):
        torchvision_model("mobilenet_v3_small", weights="IMAGENET9K")


def test_torchvision_preprocessing_comes_from_the_weights_without_downloading():
    assert torchvision_input("efficientnet_b0", "DEFAULT").interpolation == "bicubic"
    swin = torchvision_input("swin_t", "IMAGENET1K_V1")
    assert (swin.size, swin.resize) == (224, 232)
    assert (torchvision_input("resnet18", None).size, torchvision_input("resnet18", None).resize) == (224, 256)


# --- input preparation ------------------------------------------------------------------


def test_benchmark_input_standardises_each_image():
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 3, 32, 32), dtype=np.uint8))
    x = BENCHMARK_INPUT.eval_transform()(images)
    flat = x.reshape(3, -1).double()
    torch.testing.assert_close(flat.mean(1), torch.zeros(3, dtype=torch.float64), atol=1e-6, rtol=0)
    torch.testing.assert_close(flat.std(1, correction=0), torch.ones(3, dtype=torch.float64), atol=1e-5, rtol=0)
    constant = torch.full((3, 32, 32), 7, dtype=torch.uint8)
    assert torch.equal(BENCHMARK_INPUT.eval_transform()(constant), torch.zeros(3, 32, 32))  # exactly


def test_resize_crop_and_normalise():
    spec = InputSpec(size=8, resize=10, mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
    images = torch.full((2, 3, 20, 30), 255, dtype=torch.uint8)  # any aspect ratio: shorter side to 10
    x = spec.eval_transform()(images)
    assert x.shape == (2, 3, 8, 8)
    # a white image: (1 - mean) / std per channel
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor([2.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match="size <= resize"):
        InputSpec(size=10, resize=8)
    with pytest.raises(ValueError, match="both mean and std"):
        InputSpec(size=8, resize=8, mean=(0.5, 0.5, 0.5))


def test_benchmark_experts_train_on_small_shifts_never_flips_or_zooms():
    """Their training shifts the embedded arrays by up to 2 pixels: so does their augmentation of
    image files, at 32 pixels, and keeps the whole image (no flip, no random resized crop)."""
    image = torch.arange(3 * 40 * 48, dtype=torch.int64).remainder(251).to(torch.uint8).view(3, 40, 48)
    spec = benchmark_input(32)
    base = spec.eval_geometry()(image)  # shorter side 32, centre crop
    padded = torch.nn.functional.pad(base[None].float(), (2, 2, 2, 2), mode="replicate")[0].to(torch.uint8)
    shifts = set()
    torch.manual_seed(0)
    for _ in range(40):
        out = spec.train_geometry()(image)
        found = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(out, padded[:, dy : dy + 32, dx : dx + 32])]
        assert found, "not a shift of at most 2 pixels of the eval image"
        shifts.add(found[0])
    assert len(shifts) > 5  # the shift is random
    imagenet = imagenet_input(36, 32)
    assert imagenet.train_geometry()(image).shape == (3, 32, 32)  # the standard augmentation


def test_inception_v3_with_weights_fine_tunes_from_its_main_output_only(monkeypatch):
    """With weights, torchvision keeps inception_v3's auxiliary classifier (its published 27.2 M
    parameters count it) and, in training mode, returns (logits, aux): the wrapper returns the
    logits only, keeping the module. The download is replaced by a random state dict."""
    import torchvision
    from torchvision.models._api import WeightsEnum

    from zooselect.models.expert_attributes import parameter_count

    torch.manual_seed(0)
    state = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict()
    monkeypatch.setattr(WeightsEnum, "get_state_dict", lambda self, *args, **kwargs: dict(state))
    model = torchvision_model("inception_v3", weights="IMAGENET1K_V1")
    weights = torchvision.models.get_model_weights("inception_v3")["IMAGENET1K_V1"]
    assert parameter_count(model) == weights.meta["num_params"] == 27161264
    model.train()
    out = model(torch.rand(2, 3, 299, 299))  # its auxiliary head still runs, and needs 299 px
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1000)

"""timm models as experts: features from timm's own pooling, its classifier as the head, its preprocessing.

Every model is built with random weights (pretrained=False): nothing is downloaded.
"""

import numpy as np
import pytest
import torch

timm = pytest.importorskip("timm")

from zooselect.models.timm_models import TimmModel, timm_classifier_key, timm_input  # noqa: E402
from zooselect.training import finetune  # noqa: E402

# a CNN (classifier "fc") and a ViT (classifier "head", token pooling and a final norm), kept small
SMALL = {"resnet10t": {}, "vit_tiny_patch16_224": {"img_size": 32, "depth": 2}}


@pytest.mark.parametrize("name", SMALL)
def test_features_are_timms_pooled_pre_logits_and_the_head_its_classifier(name):
    torch.manual_seed(0)
    model = TimmModel(name, **SMALL[name]).eval()
    reference = timm.create_model(name, pretrained=False, **SMALL[name]).eval()
    reference.load_state_dict(model.library_state_dict())  # every weight maps back to timm's keys
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        pre_logits = reference.forward_head(reference.forward_features(x), pre_logits=True)
        torch.testing.assert_close(model.features(x), pre_logits, rtol=0, atol=0)
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
    assert model.feature_dim == reference.num_features == pre_logits.shape[1]
    assert model.head.out_features == 1000


def test_a_timm_state_dict_loads_under_timms_own_keys():
    torch.manual_seed(1)
    source = timm.create_model("resnet10t", pretrained=False, num_classes=5).eval()
    model = TimmModel("resnet10t", num_classes=5).eval()
    model.load_library_state_dict(source.state_dict())
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)
    assert timm_classifier_key("resnet10t") == "fc.weight"
    assert timm_classifier_key("convnext_atto") == "head.fc.weight"


def test_preprocessing_comes_from_the_pretrained_cfg():
    spec = timm_input(TimmModel("resnet10t"))
    # resnet10t's cfg: input 176, crop_pct 0.875, bicubic, ImageNet mean/std; resize = floor(176 / 0.875)
    assert (spec.size, spec.resize, spec.interpolation) == (176, 201, "bicubic")
    assert spec.mean == pytest.approx((0.485, 0.456, 0.406)) and spec.std == pytest.approx((0.229, 0.224, 0.225))
    vit = timm_input(TimmModel("vit_tiny_patch16_224", depth=1))
    assert (vit.size, vit.mean, vit.std) == (224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def test_an_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"unknown timm model 'resnet10tt' \(did you mean resnet10t\b"):
        TimmModel("resnet10tt")


def test_options_reach_timm_and_bad_ones_are_named():
    model = TimmModel("resnet10t", num_classes=3, drop_rate=0.5)
    assert model.body.drop_rate == 0.5 and model.head.out_features == 3
    with pytest.raises(ValueError, match="bad options.*'no_such_option'|no_such_option"):
        TimmModel("resnet10t", no_such_option=1)


def test_a_model_with_two_classifiers_is_refused():
    with pytest.raises(ValueError, match="tuple classifier.*single linear classifier"):
        TimmModel("deit_tiny_distilled_patch16_224", depth=1)


def test_the_benchmarks_finetune_swaps_the_head():
    torch.manual_seed(0)
    model = TimmModel("resnet10t", num_classes=1000)
    from zooselect.data.stream import Images, PackedSource
    from zooselect.models.inputs import InputSpec
    from zooselect.training import Schedule

    x = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    images = Images(PackedSource(x, np.arange(8) % 2))
    spec = InputSpec(16, 16, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    result = finetune(model, images, images, 2, Schedule(steps=2, batch_size=4, lr=0.01), seed=0, spec=spec)
    assert 0 <= result["test_accuracy"] <= 1
    assert model.head.out_features == 1000  # the expert itself is left untouched

"""Architectures, the training loop and checkpoints."""

import numpy as np
import pytest
import torch

from zooselect.models import create_model, load_checkpoint, save_checkpoint
from zooselect.data.stream import Images, PackedSource
from zooselect.extraction import predict
from zooselect.training import SamplePlan, Schedule, accuracy, epochs_to_steps, finetune, train

# Our small CPU models; the torchvision ones have their own tests (test_torchvision_models.py).
SMALL_ARCHITECTURES = ["densenet", "resnet"]


@pytest.mark.parametrize("arch", SMALL_ARCHITECTURES)
def test_features_feed_the_head(arch):
    model = create_model(arch, num_classes=7).eval()
    x = torch.randn(5, 3, 32, 32)
    features = model.features(x)
    assert features.shape == (5, model.feature_dim)
    torch.testing.assert_close(model(x), model.head(features))


def test_unknown_architecture_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown architecture 'vgg'.*densenet, resnet"):
        create_model("vgg", 10)


@pytest.mark.parametrize("arch", SMALL_ARCHITECTURES)
def test_checkpoint_round_trip_gives_identical_outputs(tmp_path, arch):
    torch.manual_seed(0)
    model = create_model(arch, num_classes=3).eval()
    path = tmp_path / "expert.pt"
    save_checkpoint(path, model, arch, {}, ["a", "b", "c"], {"source_test_accuracy": 0.5})
    loaded, info = load_checkpoint(path)
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(loaded.eval()(x), model(x), rtol=0, atol=0)
    assert info["classes"] == ["a", "b", "c"]
    assert info["spec"] == {"arch": arch, "options": {}, "num_classes": 3}
    assert not list(tmp_path.glob("*.tmp"))


def test_checkpoint_that_does_not_fit_its_architecture_is_refused(tmp_path):
    model = create_model("resnet", num_classes=3, width=8)
    path = tmp_path / "bad.pt"
    save_checkpoint(path, model, "resnet", {"width": 8}, ["a", "b", "c"], {})
    payload = torch.load(path, weights_only=True)
    payload["spec"]["options"] = {"width": 16}  # claims a wider network than its weights
    torch.save(payload, path)
    with pytest.raises(ValueError, match=r"does not fit architecture 'resnet'.*width.*16"):
        load_checkpoint(path)


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "zooselect-checkpoint-1", "payload": Evil()}, path)
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        load_checkpoint(path)


def _toy_task(n=64, seed=0):
    """Two classes that differ in mean brightness of the left half (uint8 images)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 120, size=(n, 32, 32, 3)).astype(np.uint8)
    y = np.arange(n, dtype=np.int64) % 2
    x[y == 1, :, :16] += 100
    return Images(PackedSource(x, y))


def test_training_is_deterministic_and_learns():
    images = _toy_task()
    schedule = Schedule(steps=40, batch_size=16, lr=0.05)
    results = []
    for _ in range(2):
        torch.manual_seed(1)
        model = create_model("resnet", 2, width=8)
        train(model, images, schedule, seed=3)
        results.append(predict(model, images)[0])
    np.testing.assert_array_equal(results[0], results[1])
    assert accuracy(model, images) > 0.9


def test_finetune_reports_test_accuracy_and_leaves_the_expert_untouched():
    images = _toy_task()
    pretrained = create_model("densenet", 5, growth=6, layers=2)
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    result = finetune(pretrained, images, images, 2, Schedule(steps=30, batch_size=16, lr=0.05), seed=0)
    assert 0.0 <= result["test_accuracy"] <= 1.0 and result["seconds"] > 0
    for key, value in pretrained.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_sample_plan_batches_cover_each_permutation_and_straddle_its_end():
    plan = SamplePlan(10, 4, seed=3)
    stream = np.concatenate([plan.batch(step)[1] for step in range(5)])  # 20 positions: 2 permutations
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:]) == list(range(10))
    again = SamplePlan(10, 4, seed=3)
    np.testing.assert_array_equal(again.batch(4)[1], plan.batch(4)[1])  # any step, without the ones before
    assert not np.array_equal(SamplePlan(10, 4, seed=4).batch(0)[1], plan.batch(0)[1])


def test_epochs_to_steps_counts_partial_batches():
    assert epochs_to_steps(3, 50, 32) == 6
    assert epochs_to_steps(1, 10, 32) == 1


def test_bad_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule"):
        Schedule(steps=0, batch_size=8, lr=0.1)


def test_the_learning_rate_drops_tenfold_at_each_milestone():
    from zooselect.training import _optimiser

    schedule = Schedule(steps=100, batch_size=8, lr=0.1, milestones=(0.5, 0.75))
    optimiser, scheduler = _optimiser(torch.nn.Linear(2, 2), schedule)
    lrs = []
    for _ in range(100):
        lrs.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        scheduler.step()
    assert [lrs[i] for i in (0, 49, 50, 74, 75, 99)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert optimiser.param_groups[0]["nesterov"] and optimiser.param_groups[0]["momentum"] == 0.9


@pytest.mark.parametrize("arch", SMALL_ARCHITECTURES)
def test_features_resume_from_the_last_convolution(arch):
    torch.manual_seed(0)
    model = create_model(arch, num_classes=4).eval()
    x = torch.randn(3, 3, 32, 32)
    conv_input, context = model.split_at_last_conv(x)
    resumed = model.features_from_last_conv(model.last_conv(conv_input), context)
    torch.testing.assert_close(resumed, model.features(x))

"""Architectures, the training loop and checkpoints."""

import numpy as np
import pytest
import torch

from zooselect.models import create_model, load_checkpoint, save_checkpoint
from zooselect.training import Schedule, accuracy, epochs_to_steps, finetune, forward_features, train

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
    """Two classes that differ in mean brightness of the left half."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 32, 32, generator=generator)
    y = torch.arange(n) % 2
    x[y == 1, :, :, :16] += 1.5
    return x, y


def test_training_is_deterministic_and_learns():
    x, y = _toy_task()
    schedule = Schedule(steps=40, batch_size=16, lr=0.05)
    results = []
    for _ in range(2):
        torch.manual_seed(1)
        model = create_model("resnet", 2, width=8)
        train(model, x, y, schedule, seed=3)
        results.append(forward_features(model, x)[0])
    np.testing.assert_array_equal(results[0], results[1])
    assert accuracy(model, x, y) > 0.9


def test_finetune_reports_test_accuracy_and_leaves_the_expert_untouched():
    x, y = _toy_task()
    pretrained = create_model("densenet", 5, growth=6, layers=2)
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    result = finetune(pretrained, x, y, x, y, 2, Schedule(steps=30, batch_size=16, lr=0.05), seed=0)
    assert 0.0 <= result["test_accuracy"] <= 1.0 and result["seconds"] > 0
    for key, value in pretrained.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_epochs_to_steps_counts_partial_batches():
    assert epochs_to_steps(3, 50, 32) == 6
    assert epochs_to_steps(1, 10, 32) == 1


def test_bad_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule"):
        Schedule(steps=0, batch_size=8, lr=0.1)


@pytest.mark.parametrize("momentum, weight_decay", [(0.9, 5e-4), (0.0, 0.0), (0.5, 0.01)])
def test_our_sgd_matches_torch_sgd_step_for_step(momentum, weight_decay):
    from zooselect.training import NesterovSGD

    torch.manual_seed(0)
    ours = create_model("resnet", 3, width=4)
    theirs = create_model("resnet", 3, width=4)
    theirs.load_state_dict(ours.state_dict())
    opt_ours = NesterovSGD(ours.parameters(), lr=0.1, momentum=momentum, weight_decay=weight_decay)
    opt_theirs = torch.optim.SGD(
        theirs.parameters(), lr=0.1, momentum=momentum, weight_decay=weight_decay, nesterov=momentum > 0
    )
    x, y = torch.randn(8, 3, 32, 32), torch.arange(8) % 3
    for _ in range(4):
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


def test_step_decay_drops_tenfold_at_each_milestone():
    from zooselect.training import step_decay

    schedule = Schedule(steps=100, batch_size=8, lr=0.1, milestones=(0.5, 0.75))
    lrs = [step_decay(schedule, step) for step in (0, 49, 50, 74, 75, 99)]
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


@pytest.mark.parametrize("arch", SMALL_ARCHITECTURES)
def test_features_resume_from_the_last_convolution(arch):
    torch.manual_seed(0)
    model = create_model(arch, num_classes=4).eval()
    x = torch.randn(3, 3, 32, 32)
    conv_input, context = model.split_at_last_conv(x)
    resumed = model.features_from_last_conv(model.last_conv(conv_input), context)
    torch.testing.assert_close(resumed, model.features(x))

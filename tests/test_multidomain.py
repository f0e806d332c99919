"""The multi-domain expert: its network (zooselect.models.multidomain_resnet) and its training
(zooselect.multidomain_training): variants, sampling, training, export to ordinary resnet entries."""

import numpy as np
import pytest
import torch

from zooselect.data import Dataset
from zooselect.gradients import per_sample_gradients, per_sample_gradients_loop
from zooselect.models import create_model, load_checkpoint, save_checkpoint
from zooselect.models.multidomain_resnet import (
    VARIANTS,
    MultiDomainResNet,
    entry_names,
    export_domain,
    export_entries,
)
from zooselect.models.resnet import ResNet
from zooselect.multidomain_training import batch_stream, entry_metrics, epoch_batches, epoch_draws, train_multidomain
from zooselect.training import Schedule

OPTIONS = {"width": 4}
SCHEDULE = Schedule(steps=12, batch_size=8, lr=0.05)


def _dataset(seed, num_classes, train, test=12, size=16):
    """Random images whose class sets the brightness of a horizontal band."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = np.arange(n, dtype=np.int64) % num_classes
        x = rng.integers(0, 120, size=(n, size, size, 3))
        for c in range(num_classes):
            x[y == c, 4 * c % size : 4 * c % size + 4] += 100
        return x.astype(np.uint8), y

    x_train, y_train = split(train)
    x_test, y_test = split(test)
    return Dataset(x_train, y_train, x_test, y_test, [f"c{i}" for i in range(num_classes)])


DATASETS = {"alpha": _dataset(0, 2, 40), "beta": _dataset(1, 3, 12)}
CLASSES = {name: ds.classes for name, ds in DATASETS.items()}


@pytest.fixture(scope="module")
def trained():
    """Each variant trained a few steps (images_per_domain 20: alpha without, beta with replacement)."""
    return {v: train_multidomain(v, OPTIONS, DATASETS, SCHEDULE, 20, seed=5, description=v) for v in VARIANTS}


def _x(n=6, size=16, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


# --- sampling -------------------------------------------------------------------------


def test_each_epoch_draws_exactly_m_per_domain_with_replacement_only_when_smaller():
    generator = torch.Generator().manual_seed(0)
    small, exact, large = epoch_draws([5, 10, 40], 10, generator)
    for draw, size in ((small, 5), (exact, 10), (large, 40)):
        assert len(draw) == 10 and draw.dtype == torch.int64
        assert 0 <= draw.min() and draw.max() < size
    assert len(set(small.tolist())) < 10  # with replacement (10 draws from 5 images)
    assert sorted(exact.tolist()) == list(range(10))  # without: a permutation
    assert len(set(large.tolist())) == 10  # without replacement
    # Over many epochs the small domain is still drawn uniformly with replacement.
    counts = np.bincount(torch.cat([epoch_draws([5], 10, generator)[0] for _ in range(200)]).numpy(), minlength=5)
    assert counts.sum() == 2000 and counts.min() > 300


def test_an_epoch_has_domain_homogeneous_batches_shuffled_across_domains():
    batches = epoch_batches([5, 40, 100], 20, 8, torch.Generator().manual_seed(1))
    domains = [d for d, _ in batches]
    assert len(batches) == 3 * 3  # ceil(20 / 8) batches per domain
    assert all(len(index) in (6, 7) for _, index in batches)  # 20 split evenly, no tiny remainder
    for d in range(3):
        assert sum(len(index) for domain, index in batches if domain == d) == 20
    assert domains != sorted(domains)  # interleaved, not domain after domain
    again = epoch_batches([5, 40, 100], 20, 8, torch.Generator().manual_seed(1))
    assert all(a[0] == b[0] and torch.equal(a[1], b[1]) for a, b in zip(batches, again))


def test_the_stream_gives_exactly_the_requested_steps_across_epochs():
    stream = list(batch_stream([30, 30], 16, 8, 11, seed=0))
    assert len(stream) == 11  # 4 batches per epoch: two full epochs and three batches of a third
    assert [d for d, _ in stream[:4]].count(0) == 2
    again = list(batch_stream([30, 30], 16, 8, 11, seed=0))  # any step is a function of the seed and the step
    assert all(a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in zip(stream, again))


def test_bad_images_per_domain_is_refused():
    with pytest.raises(ValueError, match="images_per_domain"):
        epoch_draws([5], 0, torch.Generator())
    with pytest.raises(ValueError, match="images_per_domain"):
        train_multidomain("shared", OPTIONS, DATASETS, SCHEDULE, 0, seed=0)


# --- the network ----------------------------------------------------------------------


def test_bad_variant_and_unknown_domain_name_the_valid_ones():
    with pytest.raises(ValueError, match="unknown multi-domain variant 'multi_bn'.*shared, multibn, adapter"):
        MultiDomainResNet(["a", "b"], [2, 3], "multi_bn")
    with pytest.raises(ValueError, match="unknown multi-domain variant 'lora'.*shared, multibn, adapter"):
        train_multidomain("lora", OPTIONS, DATASETS, SCHEDULE, 10, seed=0)
    model = MultiDomainResNet(["a", "b"], [2, 3], "multibn", width=4)
    with pytest.raises(ValueError, match="unknown domain 'c'; valid domains: a, b"):
        model(_x(), "c")
    with pytest.raises(ValueError, match="unknown domain 'c'; valid domains: a, b"):
        export_domain(model, "c")
    with pytest.raises(ValueError, match="lowercase"):
        MultiDomainResNet(["a", "B-2"], [2, 3], "shared")
    with pytest.raises(ValueError, match="bad options"):
        train_multidomain("shared", {"growth": 4}, DATASETS, SCHEDULE, 10, seed=0)


def test_variants_have_the_domain_specific_parameters_they_promise():
    def count(model, domain):
        return sum(p.numel() for p in model.domain_parameters(domain))

    heads = {d: 4 * 4 * n + n for d, n in (("a", 2), ("b", 3))}
    shared, multibn, adapter = (MultiDomainResNet(["a", "b"], [2, 3], v, width=4) for v in VARIANTS)
    assert {d: count(shared, d) for d in "ab"} == heads
    bn = sum(2 * m.num_features for m in ResNet(2, width=4).modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert {d: count(multibn, d) for d in "ab"} == {d: heads[d] + bn for d in "ab"}
    assert count(adapter, "a") > count(multibn, "a")
    # The shared convolutions are the same size in every variant.
    assert sum(p.numel() for p in adapter.shared_parameters()) == sum(p.numel() for p in multibn.shared_parameters())


def test_a_training_batch_updates_only_its_own_domains_batch_norm_statistics():
    model = MultiDomainResNet(["a", "b"], [2, 3], "multibn", width=4).train()
    bn_a, bn_b = model.trunk.stem[1].members
    model(_x(8), "a")
    assert not torch.equal(bn_a.running_mean, torch.zeros_like(bn_a.running_mean))
    assert torch.equal(bn_b.running_mean, torch.zeros_like(bn_b.running_mean))


def test_trained_variants_differ_across_domains_only_where_they_should(trained):
    x = _x()
    for variant, (model, metrics) in trained.items():
        with torch.no_grad():
            a, b = model.eval().features(x, "alpha"), model.features(x, "beta")
        if variant == "shared":
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        else:
            assert (a - b).abs().max() > 1e-3, variant
        assert metrics["steps"] == SCHEDULE.steps and metrics["images_per_domain"] == 20
        assert set(metrics["source_test_accuracy"]) == {"alpha", "beta"}
        assert all(0 <= acc <= 1 for acc in metrics["source_test_accuracy"].values())
        assert ("union_source_test_accuracy" in metrics) == (variant == "shared")


def test_the_same_seed_gives_identical_weights():
    small = Schedule(steps=4, batch_size=8, lr=0.05)
    runs = [train_multidomain("adapter", OPTIONS, DATASETS, small, 10, seed=s)[0].state_dict() for s in (3, 3, 4)]
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


# --- export ---------------------------------------------------------------------------


def test_entry_names():
    assert entry_names("shared", ["a", "b"]) == ["shared-all"]
    assert entry_names("multibn", ["a", "b"]) == ["multibn-a", "multibn-b"]
    assert entry_names("adapter", ["a"]) == ["adapter-a"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_exported_entries_compute_the_domains_outputs_and_round_trip(trained, tmp_path, variant):
    model, metrics = trained[variant]
    model.eval()
    x = _x()
    entries = export_entries(model, CLASSES)
    assert list(entries) == entry_names(variant, list(DATASETS))
    with torch.no_grad():
        outputs = {d: model(x, d) for d in DATASETS}
        for domain in DATASETS:  # every variant exports each domain on its own, too
            resnet, options = export_domain(model, domain)
            assert options == {
                **OPTIONS,
                "blocks": 1,
                "stem_stride": 2,
                "in_channels": 3,
                "adapters": variant == "adapter",
            }
            torch.testing.assert_close(resnet.head(resnet.features(x)), outputs[domain], rtol=0, atol=1e-5)
        for name, (resnet, options, classes) in entries.items():
            if variant == "shared":
                expected = torch.cat([outputs[d] for d in DATASETS], dim=1)
                assert classes == ["alpha/c0", "alpha/c1", "beta/c0", "beta/c1", "beta/c2"]
            else:
                domain = name.split("-", 1)[1]
                expected = outputs[domain]
                assert classes == CLASSES[domain]
            assert type(resnet) is ResNet and not resnet.training
            torch.testing.assert_close(resnet.head(resnet.features(x)), expected, rtol=0, atol=1e-5)
            path = tmp_path / f"{name}.pt"
            save_checkpoint(path, resnet, "resnet", options, classes, entry_metrics(metrics, name))
            loaded, info = load_checkpoint(path)
            torch.testing.assert_close(loaded.eval()(x), resnet(x), rtol=0, atol=0)
            assert info["classes"] == classes and info["spec"]["options"] == options
            assert 0 <= info["metrics"]["source_test_accuracy"] <= 1


def test_entry_metrics_refuse_an_entry_the_variant_does_not_have(trained):
    _, metrics = trained["multibn"]
    assert entry_metrics(metrics, "multibn-beta")["source_test_accuracy"] == metrics["source_test_accuracy"]["beta"]
    with pytest.raises(ValueError, match="valid entries: multibn-alpha, multibn-beta"):
        entry_metrics(metrics, "multibn-gamma")


def test_export_entries_checks_the_class_names():
    model = MultiDomainResNet(["a", "b"], [2, 3], "shared", width=4)
    with pytest.raises(ValueError, match="domains"):
        export_entries(model, {"a": ["x", "y"]})
    with pytest.raises(ValueError, match="domain 'b' has 3 classes"):
        export_entries(model, {"a": ["x", "y"], "b": ["x"]})


# --- the adapter ResNet ---------------------------------------------------------------


def test_resnet_without_adapters_is_unchanged():
    torch.manual_seed(0)
    plain = create_model("resnet", 3, width=4)
    torch.manual_seed(0)
    explicit = create_model("resnet", 3, width=4, adapters=False)
    assert not any("adapter" in k for k in plain.state_dict())
    assert all(torch.equal(v, explicit.state_dict()[k]) for k, v in plain.state_dict().items())
    adapted = create_model("resnet", 3, width=4, adapters=True)
    extra = sorted(set(adapted.state_dict()) - set(plain.state_dict()))
    assert extra == ["body.0.adapter1.weight", "body.0.adapter2.weight", "body.1.adapter1.weight",
                     "body.1.adapter2.weight", "body.2.adapter1.weight", "body.2.adapter2.weight",
                     "stem_adapter.weight"]  # fmt: skip
    assert set(plain.state_dict()) <= set(adapted.state_dict())


def test_adapter_resnet_splits_at_its_last_conv_and_gives_the_loop_gradients(trained):
    resnet, _ = export_domain(trained["adapter"][0], "beta")
    x, y = _x(10, seed=1), torch.arange(10) % 3
    with torch.no_grad():
        conv_input, context = resnet.split_at_last_conv(x)
        assert len(context) == 2
        resumed = resnet.features_from_last_conv(resnet.last_conv(conv_input), context)
        torch.testing.assert_close(resumed, resnet.features(x), rtol=0, atol=1e-6)
    fast = per_sample_gradients(resnet, x, y, 3, batch_size=4)
    slow = per_sample_gradients_loop(resnet, x, y, 3)
    assert fast.shape == (10, resnet.last_conv.weight.numel())
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("adapters", [False, True])
def test_small_resnets_train_on_odd_batches_in_channels_last(adapters):
    # torch 2.14's CPU weight gradient of a strided 1x1 convolution on a
    # channels-last input with 3-8 input channels and an odd batch size crashes
    # the process; the ResNet's shortcuts and adapters compute it another way.
    torch.manual_seed(0)
    model = create_model("resnet", 2, width=8, adapters=adapters).to(memory_format=torch.channels_last)
    x = _x(7, size=32).contiguous(memory_format=torch.channels_last)
    for _ in range(4):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), torch.arange(7) % 2).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())

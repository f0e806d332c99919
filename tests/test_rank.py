"""`zooselect rank` as a library: target specs, zoo files, and a zoo ranked on an image folder.

Models are small or built with random weights, and images are tiny, so the
whole file runs in seconds; nothing is downloaded (URL archives are served
from 127.0.0.1).
"""

import logging
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from _rank_helpers import CLASSES, make_image_folder, pack_tar, sha256, write_local_zoo

from zooselect.cache import read_cache
from zooselect.data import build_dataset
from zooselect.models import load_checkpoint
from zooselect.rank import RankOptions, TargetSpec, format_table, parse_target, rank, ranking_table
from zooselect.scores import METHODS, compute_score
from zooselect.seeding import derive_seed
from zooselect.data.stream import Images
from zooselect.extraction import predict
from zooselect.models import checkpoint_input
from zooselect.userzoo import ZooError, parse_zoo, read_zoo

QUIET = dict(progress=False)


# --- target specs -----------------------------------------------------------------------


def test_target_shorthands_and_folders(tmp_path, monkeypatch):
    folder = make_image_folder(tmp_path / "pets", per_class=2)
    monkeypatch.chdir(tmp_path)
    for spec in ("pets", "imagefolder:pets", str(folder)):
        assert parse_target(spec) == TargetSpec("pets", "imagefolder", {"root": str(folder)})
    assert parse_target("csv:list.csv") == TargetSpec("list", "csv", {"path": str(tmp_path / "list.csv")})
    assert parse_target("torchvision:CIFAR10") == TargetSpec("CIFAR10", "torchvision", {"name": "CIFAR10"})
    url = parse_target("url:https://example.org/d/birds.tar.gz#sha256=" + "a" * 64)
    assert (url.name, url.kind, url.options["sha256"]) == ("birds", "url", "a" * 64)


def test_a_yaml_target_spec_resolves_paths_against_its_folder(tmp_path):
    (tmp_path / "specs").mkdir()
    spec = tmp_path / "specs" / "birds.yaml"
    spec.write_text(yaml.safe_dump({"kind": "imagefolder", "options": {"root": "../data/birds", "image_size": 64}}))
    assert parse_target(str(spec)) == TargetSpec(
        "birds", "imagefolder", {"root": str(tmp_path / "data" / "birds"), "image_size": 64}
    )


@pytest.mark.parametrize(
    "spec, message",
    [
        ("url:https://example.org/a.zip", "needs its sha256"),
        ("mnist:x", "kind 'mnist' has no shorthand"),
        ("no/such/folder", "neither a YAML file, a folder nor a shorthand"),
        ("missing.yaml", r"target spec missing\.yaml does not exist"),
    ],
)
def test_bad_target_specs_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_target(spec)


def test_bad_yaml_target_specs_are_named(tmp_path):
    spec = tmp_path / "t.yaml"
    spec.write_text("kind: imagefolder\noptions: {root: x, colour: red}\n")
    with pytest.raises(ValueError, match="unknown option.*colour.*valid options: image_size, min_images_per_class"):
        parse_target(str(spec))
    spec.write_text("kind: imagefoldr\n")
    with pytest.raises(ValueError, match="unknown dataset kind 'imagefoldr'"):
        parse_target(str(spec))


# --- zoo files --------------------------------------------------------------------------


def test_zoo_entries_get_defaults_and_paths_relative_to_the_zoo_file(tmp_path):
    zoo = tmp_path / "zoos" / "zoo.yaml"
    zoo.parent.mkdir()
    zoo.write_text(
        "experts:\n"
        "  tv: {origin: torchvision, model: resnet50}\n"
        "  tm: {origin: timm, model: convnext_atto, pretrained: false}\n"
        "  mine: {origin: checkpoint, path: ../ckpt/mine.pt, preprocessing: imagenet}\n"
    )
    tv, tm, mine = read_zoo(zoo)
    assert (tv.name, tv.args["weights"], tm.args["pretrained"]) == ("tv", "DEFAULT", False)
    assert mine.args["path"] == str(tmp_path / "ckpt" / "mine.pt")
    as_list = parse_zoo([{"name": "tv", "origin": "torchvision", "model": "resnet50"}], tmp_path)
    assert as_list[0] == tv


@pytest.mark.parametrize(
    "text, message",
    [
        ("experts:\n  a: {origin: keras, model: x}\n", "origin 'keras'; valid origins: torchvision, timm, checkpoint"),
        ("experts:\n  a: {origin: timm}\n", r"expert 'a' \(timm\) needs 'model'"),
        ("experts:\n  a: {origin: timm, model: x, weights: y}\n", "unknown key.*weights; valid keys"),
        ("experts:\n  a: {origin: timm, model: x}\n  a: {origin: timm, model: y}\n", "'a' appears twice"),
        ("- {name: a, origin: timm, model: x}\n- {name: a, origin: timm, model: y}\n", "used twice: a"),
        ("experts:\n  a/b: {origin: timm, model: x}\n", "expert name 'a/b' must"),
        ("experts:\n  a: {origin: timm, model: x, preprocessing: {size: 0}}\n", "bad preprocessing"),
        ("experts: {}\n", "no experts"),
        ("experts:\n  a: {origin: torchvision, model: x\n", "not valid YAML"),
        ("experts:\n  a: {source: timm, origin: timm, model: x}\n", "give 'origin' only"),
    ],
)
def test_bad_zoo_files_are_named(tmp_path, text, message):
    zoo = tmp_path / "zoo.yaml"
    zoo.write_text(text)
    with pytest.raises(ZooError, match=message):
        read_zoo(zoo)


def test_a_zoo_file_with_the_old_key_source_still_reads_with_a_warning(tmp_path):
    """'origin' was 'source' (a word zooselect keeps for a dataset an expert was trained on)."""
    with pytest.warns(FutureWarning, match="the key 'source' is now 'origin'"):
        old = parse_zoo({"tv": {"source": "torchvision", "model": "resnet50"}}, tmp_path)
    assert old == parse_zoo({"tv": {"origin": "torchvision", "model": "resnet50"}}, tmp_path)

# --- ranking ----------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    return make_image_folder(tmp_path / "colours", per_class=6)


def _zoo_with_torchvision_and_timm(tmp_path):
    zoo_path = write_local_zoo(tmp_path / "zoo")
    zoo = yaml.safe_load(zoo_path.read_text())
    small = {"size": 32, "resize": 36}  # their own normalisation, at a small size to stay fast
    zoo["experts"]["tv_mobilenet"] = {
        "origin": "torchvision", "model": "mobilenet_v3_small", "weights": None, "preprocessing": {
            **small, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    }  # fmt: skip
    zoo["experts"]["timm_resnet"] = {
        "origin": "timm", "model": "resnet10t", "pretrained": False,
        "preprocessing": {**small, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
    }  # fmt: skip
    zoo_path.write_text(yaml.safe_dump(zoo, sort_keys=False))
    return zoo_path


def test_a_zoo_is_ranked_with_the_benchmarks_cache_and_score_code(tmp_path, folder):
    pytest.importorskip("timm")
    entries = read_zoo(_zoo_with_torchvision_and_timm(tmp_path))
    target = parse_target(str(folder))
    out = tmp_path / "out"
    methods = ("lfc_centered", "logme", "leep", "feature_metrics")
    table = rank(target, entries, out, RankOptions(methods=methods, finetune_top=1, finetune_epochs=1, **QUIET))

    names = [e.name for e in entries]
    assert sorted(table["expert"]) == sorted(names)
    assert list(table["rank"]) == [1, 2, 3, 4, 5]
    assert table["lfc_centered"].is_monotonic_decreasing  # ordered by the first method
    written = pd.read_csv(out / "ranking.csv")
    assert list(written["expert"]) == list(table["expert"])
    assert (out / "ranking.png").read_bytes()[:4] == b"\x89PNG"

    caches = {name: read_cache(out / "caches" / f"{name}.h5") for name in names}
    for method in ("lfc_centered", "logme", "leep"):  # the registry's scores of the caches, as the benchmark
        scores = pd.read_csv(out / "scores" / f"{method}.csv").set_index("expert")["score"]
        for name, cache in caches.items():
            assert scores[name] == pytest.approx(compute_score(method, cache), rel=1e-5)
            assert table.set_index("expert").loc[name, method] == pytest.approx(scores[name], rel=1e-5)
    assert np.isfinite(table["feature_metrics"]).all()  # z-scored across the zoo

    assert caches["tv_mobilenet"]["probs"].shape[1] == 1000  # the source head: ImageNet's classes
    assert caches["timm_resnet"]["features"].shape[1] == 512

    best = table["expert"][0]  # only the top expert was fine-tuned
    tuned = pd.read_csv(out / "finetune" / f"{best}.csv")
    assert list(tuned.columns) == ["expert", "lr", "test_accuracy", "seconds", "train_loss"]
    assert table["finetune_accuracy"].notna().tolist() == [True, False, False, False, False]
    assert "-" in format_table(table).splitlines()[-1]


def test_caches_are_reused_until_something_they_depend_on_changes(tmp_path, folder):
    entries = read_zoo(write_local_zoo(tmp_path / "zoo"))
    target = parse_target(str(folder))
    out = tmp_path / "out"
    first = rank(target, entries, out, RankOptions(methods=("lfc",), **QUIET))

    # Our checkpoint's cache is the benchmark's: same images, same tensor, same features.
    cache = read_cache(out / "caches" / "ours.h5")
    dataset = build_dataset("imagefolder", derive_seed(0, target.name), {"root": str(folder), "image_size": 32})
    assert len(cache["indices"]) == len(dataset.y_train)  # fewer than 50 per class: all of them
    model, info = load_checkpoint(tmp_path / "zoo" / "ours.pt")
    features, probs = predict(model, Images(dataset.source("train"), cache["indices"]), checkpoint_input(info))
    np.testing.assert_array_equal(cache["features"], features)
    np.testing.assert_array_equal(cache["probs"], probs)

    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "caches").iterdir()}
    second = rank(target, entries, out, RankOptions(methods=("lfc", "logme"), **QUIET))
    assert {p.name: p.stat().st_mtime_ns for p in (out / "caches").iterdir()} == stamps
    pd.testing.assert_series_equal(first["lfc"], second["lfc"])
    rank(target, entries, out, RankOptions(methods=("lfc",), images_per_class=2, **QUIET))
    assert all(p.stat().st_mtime_ns != stamps[p.name] for p in (out / "caches").iterdir())
    assert len(read_cache(out / "caches" / "ours.h5")["labels"]) == 2 * len(CLASSES)


def test_lgc_needs_experts_with_a_last_convolution(tmp_path, folder):
    entries = read_zoo(write_local_zoo(tmp_path / "zoo"))
    target = parse_target(str(folder))
    table = rank(target, entries, tmp_path / "out", RankOptions(methods=("lgc",), **QUIET))
    assert np.isfinite(table["lgc"]).all()
    assert read_cache(tmp_path / "out" / "caches" / "ours.h5")["gradients"].shape[1] == 256
    timm_entry = parse_zoo({"t": {"origin": "timm", "model": "resnet10t", "pretrained": False}}, tmp_path)
    with pytest.raises(ZooError, match="method 'lgc' needs per-sample gradients.*expert 't'"):
        rank(target, timm_entry, tmp_path / "out2", RankOptions(methods=("lgc",), **QUIET))
    assert not (tmp_path / "out2" / "caches").exists()  # refused before any extraction


@pytest.mark.parametrize(
    "methods, message",
    [
        (("rsa",), "method 'rsa' needs a probe network"),
        (("domain_similarity",), "method 'domain_similarity' needs each expert's source training data"),
        (("lfc", "lfcc"), "unknown method 'lfcc'; valid methods: domain_similarity, etran, feature_metrics"),
        (("lfc", "lfc"), "listed twice"),
    ],
)
def test_methods_that_cannot_run_are_refused_first(tmp_path, folder, methods, message):
    entries = read_zoo(write_local_zoo(tmp_path / "zoo"))
    with pytest.raises(ValueError, match=message):
        rank(parse_target(str(folder)), entries, tmp_path / "out", RankOptions(methods=methods, **QUIET))
    assert not (tmp_path / "out").exists()


def test_the_methods_added_since_2022_rank_a_zoo_as_the_benchmark_scores_it(tmp_path, folder):
    entries = read_zoo(write_local_zoo(tmp_path / "zoo"))
    methods = ("mean_rank", "knn", "etran", "ncti", "sfda", "sfda_single_softmax")
    out = tmp_path / "out"
    table = rank(parse_target(str(folder)), entries, out, RankOptions(methods=methods, **QUIET))
    assert list(table.columns) == ["rank", "expert", "origin", *methods, "cache_seconds"]  # one mean_rank column
    assert table["mean_rank"].is_monotonic_decreasing and np.isfinite(table[list(methods)]).all().all()
    caches = [read_cache(out / "caches" / f"{e.name}.h5") for e in entries]
    for method in methods:
        scores = pd.read_csv(out / "scores" / f"{method}.csv").set_index("expert")["score"]
        raw = {cache["expert"]: compute_score(method, cache) for cache in caches}
        zoo_step = METHODS[method].across_zoo
        expected = zoo_step(raw) if zoo_step else raw
        assert scores.to_dict() == pytest.approx(expected, rel=1e-5)  # score CSVs keep 6 significant digits


def test_ranking_table_with_the_mean_rank_method_keeps_one_mean_rank_column():
    rows = {
        "lfc": [{"expert": "a", "score": 0.5}, {"expert": "b", "score": 0.5}, {"expert": "c", "score": 0.1}],
        "mean_rank": [{"expert": "a", "score": -2.0}, {"expert": "b", "score": -1.0}, {"expert": "c", "score": -3.0}],
    }
    labels = {"a": "A", "b": "B", "c": "C"}
    table = ranking_table(rows, labels)
    assert list(table.columns) == ["rank", "expert", "origin", "lfc", "mean_rank"]
    assert list(table["expert"]) == ["b", "a", "c"]  # lfc ties a and b; the average rank puts b first
    assert list(table["mean_rank"]) == [-1.0, -2.0, -3.0]  # the method's scores, not an average of ranks
    without = ranking_table({"lfc": rows["lfc"]}, labels)
    assert list(without.columns) == ["rank", "expert", "origin", "lfc", "mean_rank"]
    assert list(without["mean_rank"]) == [1.5, 1.5, 3.0]


# --- bad input ----------------------------------------------------------------------------


def test_a_corrupt_image_stops_naming_it_or_is_skipped_when_the_spec_says_so(tmp_path, folder, caplog):
    bad = folder / "green" / "99.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    entries = read_zoo(write_local_zoo(tmp_path / "zoo"))
    with pytest.raises(ValueError, match=f"cannot read image {bad}"):
        rank(parse_target(str(folder)), entries, tmp_path / "out", RankOptions(**QUIET))
    spec = tmp_path / "colours.yaml"
    spec.write_text(yaml.safe_dump({"kind": "imagefolder", "options": {"root": "colours", "on_bad_image": "skip"}}))
    with caplog.at_level(logging.WARNING):
        table = rank(parse_target(str(spec)), entries, tmp_path / "out", RankOptions(methods=("lfc",), **QUIET))
    assert len(table) == 3
    assert any(str(bad) in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_a_class_with_fewer_than_two_images_is_named(tmp_path, folder):
    for path in sorted((folder / "red").iterdir())[1:]:
        path.unlink()
    entries = read_zoo(write_local_zoo(tmp_path / "zoo"))
    with pytest.raises(ValueError, match="class 'red' has 1 image; at least 2 needed"):
        rank(parse_target(str(folder)), entries, tmp_path / "out", RankOptions(**QUIET))


def test_a_url_archive_is_ranked_and_a_wrong_checksum_leaves_nothing(tmp_path, folder, server):
    www, base, _ = server
    archive = pack_tar(folder, www / "colours.tar.gz", "colours")
    entries = read_zoo(write_local_zoo(tmp_path / "zoo"))
    out = tmp_path / "out"
    table = rank(parse_target(f"url:{base}/colours.tar.gz#sha256={sha256(archive)}"), entries, out,
                 RankOptions(methods=("lfc",), **QUIET))  # fmt: skip
    assert len(table) == 3 and any((out / "downloads").iterdir())

    wrong = "0" * 64
    out2 = tmp_path / "out2"
    with pytest.raises(ValueError, match=f"sha256 mismatch.*expected {wrong}, got {sha256(archive)}"):
        rank(parse_target(f"url:{base}/colours.tar.gz#sha256={wrong}"), entries, out2, RankOptions(**QUIET))
    assert os.listdir(out2 / "downloads") == []  # no partial file, nothing that looks finished


def test_an_archive_member_outside_its_folder_is_refused(tmp_path, server):
    import io
    import tarfile

    www, base, _ = server
    archive = www / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"gotcha"
        member = tarfile.TarInfo("../../escaped.txt")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    entries = read_zoo(write_local_zoo(tmp_path / "zoo"))
    with pytest.raises(ValueError, match=r"refusing archive member '\.\./\.\./escaped\.txt'"):
        rank(parse_target(f"url:{base}/evil.tar.gz#sha256={sha256(archive)}"), entries, tmp_path / "out",
             RankOptions(**QUIET))  # fmt: skip
    assert not list(tmp_path.rglob("escaped.txt"))


def test_experts_with_random_weights_are_the_same_in_every_run(tmp_path, folder):
    zoo = {"r": {"origin": "torchvision", "model": "mobilenet_v3_small", "weights": None,
                 "preprocessing": {"size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}}}  # fmt: skip
    target = parse_target(str(folder))
    for out in ("a", "b"):
        rank(target, parse_zoo(zoo, tmp_path), tmp_path / out, RankOptions(methods=("lfc",), **QUIET))
    np.testing.assert_array_equal(
        read_cache(tmp_path / "a" / "caches" / "r.h5")["features"],
        read_cache(tmp_path / "b" / "caches" / "r.h5")["features"],
    )


# --- bad caches and concurrent runs -----------------------------------------------------


def test_an_unreadable_or_copied_cache_is_rebuilt_with_a_warning_naming_it(tmp_path, folder, caplog):
    entries = read_zoo(write_local_zoo(tmp_path / "zoo"))
    target = parse_target(str(folder))
    out = tmp_path / "out"
    first = rank(target, entries, out, RankOptions(methods=("lfc", "logme"), **QUIET))
    caches = out / "caches"
    truncated, copied, untouched = caches / "ours.h5", caches / "wide_resnet.h5", caches / "plain_densenet.h5"
    truncated.write_bytes(truncated.read_bytes()[:700])
    copied.write_bytes(untouched.read_bytes())  # another expert's cache under this expert's name
    stamp = untouched.stat().st_mtime_ns

    with caplog.at_level(logging.WARNING, logger="zooselect.cache"):
        second = rank(target, entries, out, RankOptions(methods=("lfc", "logme"), **QUIET))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(truncated) in w and "not a readable HDF5 file" in w and "rebuilding" in w for w in warnings)
    assert any(str(copied) in w and "expert 'plain_densenet'" in w and "rebuilding" in w for w in warnings)
    pd.testing.assert_frame_equal(first.drop(columns="cache_seconds"), second.drop(columns="cache_seconds"))
    assert untouched.stat().st_mtime_ns == stamp  # the good cache was reused, not remade
    assert read_cache(copied)["expert"] == "wide_resnet" and read_cache(truncated)["expert"] == "ours"


def _start_rank(tmp_path, folder, zoo, out, name):
    err = tmp_path / f"{name}.err"
    command = [sys.executable, "-m", "zooselect.cli", "rank", "--target", f"imagefolder:{folder}", "--zoo", str(zoo),
               "--out", str(out), "--methods", "lfc,logme", "-q"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err.open("w"), text=True)
    return process, err


def test_two_rank_processes_on_one_out_folder_take_turns_and_both_rank_correctly(tmp_path, folder):
    from zooselect.io import folder_lock
    from zooselect.rank import LOCK_FILE

    zoo = write_local_zoo(tmp_path / "zoo")
    options = RankOptions(methods=("lfc", "logme"), **QUIET)
    reference = rank(parse_target(str(folder)), read_zoo(zoo), tmp_path / "alone", options)
    out = tmp_path / "shared"
    # Hold the folder's lock while both start, so that both are seen waiting for it; once it
    # is released they compete for it with each other.
    with folder_lock(out, LOCK_FILE):
        runs = [_start_rank(tmp_path, folder, zoo, out, name) for name in ("one", "two")]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all("waiting for another" in err.read_text() for _, err in runs):
            assert all(process.poll() is None for process, _ in runs), [err.read_text() for _, err in runs]
            time.sleep(0.1)
    outputs = [process.communicate(timeout=300)[0] for process, _ in runs]
    for (process, err), stdout in zip(runs, outputs):
        assert process.returncode == 0, err.read_text()
        assert f"waiting for another `zooselect rank` using {out}" in err.read_text()
        assert [line.split()[1] for line in stdout.splitlines() if line.strip()[:1].isdigit()] == list(reference.expert)
    tables = [[line for line in stdout.splitlines() if line.strip()[:1].isdigit()] for stdout in outputs]
    assert tables[0] == tables[1], outputs  # the same table (cache seconds included: the second reused the caches)
    shared = pd.read_csv(out / "ranking.csv")
    pd.testing.assert_frame_equal(shared[["expert", "lfc", "logme"]], reference[["expert", "lfc", "logme"]], rtol=1e-5)
    for expert in reference.expert:
        cache = read_cache(out / "caches" / f"{expert}.h5")
        alone = read_cache(tmp_path / "alone" / "caches" / f"{expert}.h5")
        assert np.abs(cache["features"]).sum() > 0
        np.testing.assert_allclose(cache["features"], alone["features"], rtol=1e-4, atol=1e-6)  # threads differ
    assert not [p.name for p in (out / "caches").iterdir() if p.suffix != ".h5"]  # no temporary file left

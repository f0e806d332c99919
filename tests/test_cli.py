"""The `zooselect` command: a local-checkpoint zoo ranked end to end, and one-line errors for bad input."""

import re
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pandas as pd
import pytest
import torch
import yaml
from _rank_helpers import make_image_folder, write_local_zoo

from zooselect.cli import main
from zooselect.scores import METHODS


def test_a_local_checkpoint_zoo_is_ranked_end_to_end(tmp_path):
    folder = make_image_folder(tmp_path / "colours", per_class=6)
    zoo = write_local_zoo(tmp_path / "zoo")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "zooselect.cli", "rank", "--target", f"imagefolder:{folder}",
               "--zoo", str(zoo), "--out", str(out), "--methods", "logme,lfc", "--finetune-top", "1",
               "--finetune-epochs", "1"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ranking = pd.read_csv(out / "ranking.csv")
    assert list(ranking.columns[:6]) == ["rank", "expert", "origin", "logme", "lfc", "mean_rank"]
    assert ranking["logme"].is_monotonic_decreasing
    # the printed table lists the experts in the ranking's order, best first
    rows = [line.split() for line in done.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [row[1] for row in rows] == list(ranking["expert"])
    assert f"Fine-tuned test accuracy of the top 1: {ranking['expert'][0]}" in done.stdout
    assert "extracting caches" in done.stderr and "100%" in done.stderr  # the progress bar
    assert sorted(p.name for p in (out / "caches").iterdir()) == ["ours.h5", "plain_densenet.h5", "wide_resnet.h5"]
    assert (out / "ranking.png").is_file() and (out / "rank.json").is_file()


def test_the_console_script_is_registered():
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "zooselect"]
    assert script.value == "zooselect.cli:main"


def test_bad_input_is_one_line_without_a_traceback(tmp_path):
    zoo = tmp_path / "zoo.yaml"
    zoo.write_text("experts:\n  a: {origin: keras, model: x}\n")
    done = subprocess.run(
        [sys.executable, "-m", "zooselect.cli", "rank", "--target", str(tmp_path), "--zoo", str(zoo), "--out", "o"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("zooselect: error: zoo file") and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _rank(tmp_path, zoo_text, *extra, folder=True):
    target = make_image_folder(tmp_path / "colours", per_class=2) if folder else tmp_path / "none"
    zoo = tmp_path / "zoo.yaml"
    zoo.write_text(zoo_text)
    return main(["rank", "--target", str(target), "--zoo", str(zoo), "--out", str(tmp_path / "out"), "-q", *extra])


@pytest.mark.parametrize(
    "zoo_text, message",
    [
        ("experts:\n  a: {origin: torchvision, model: resnet1O1, weights: null}\n",
         r"expert 'a': unknown torchvision model 'resnet1O1' \(did you mean resnet101"),
        ("experts:\n  a: {origin: torchvision, model: mobilenet_v3_smal, weights: null}\n",
         r"unknown torchvision model 'mobilenet_v3_smal' \(did you mean mobilenet_v3_small"),
        ("experts:\n  a: {origin: timm, model: convnext_atoo, pretrained: false}\n",
         r"unknown timm model 'convnext_atoo' \(did you mean convnext_atto"),
        ("experts:\n  a: {origin: checkpoint, path: nowhere.pt}\n", r"checkpoint .*nowhere\.pt does not exist"),
    ],
)  # fmt: skip
def test_unknown_models_and_files_are_named(tmp_path, capsys, zoo_text, message):
    if "timm" in zoo_text:
        pytest.importorskip("timm")
    assert _rank(tmp_path, zoo_text) == 1
    err = capsys.readouterr().err
    assert err.startswith("zooselect: error: ") and "Traceback" not in err
    assert re.search(message, err), err


def test_a_checkpoint_with_pickled_code_is_refused(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    torch.save({"state_dict": {}, "hook": Evil()}, tmp_path / "evil.pt")
    assert _rank(tmp_path, "experts:\n  e: {origin: checkpoint, path: evil.pt, arch: resnet}\n") == 1
    captured = capsys.readouterr()
    assert "refusing checkpoint" in captured.err and "not a plain tensor file" in captured.err
    assert "pickled code ran" not in captured.out + captured.err


def test_methods_are_checked_before_anything_is_read(tmp_path, capsys):
    assert _rank(tmp_path, "not: [a zoo", "--methods", "lfc,leepp", folder=False) == 1
    assert "unknown method 'leepp'; valid methods:" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--finetune-top", "-1"], ["--methods", ","], ["--finetune-lrs", "0"]])
def test_bad_flags_are_argparse_errors(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as exit_info:
        main(["rank", "--target", "t", "--zoo", "z", "--out", "o", *args])
    assert exit_info.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_the_methods_command_marks_the_defaults(capsys):
    assert main(["methods"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "[default]" in lines["logme"] and "[default]" in lines["lfc_centered"] and "benchmark only" in lines["rsa"]
    assert set(lines) == set(METHODS)  # one line per registered method


def test_the_zoo_file_example_in_the_docs_parses(tmp_path):
    from zooselect import userzoo

    text = userzoo.__doc__.split("::\n", 1)[1].split("\n\n")[0]
    entries = userzoo.parse_zoo(yaml.safe_load(textwrap.dedent(text)), tmp_path)
    assert [e.origin for e in entries] == ["torchvision", "timm", "checkpoint", "checkpoint"]


def test_weights_that_cannot_be_downloaded_name_the_expert(tmp_path, capsys, monkeypatch):
    import urllib.error

    from torchvision.models._api import WeightsEnum

    def offline(self, *args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline)
    assert _rank(tmp_path, "experts:\n  tv: {origin: torchvision, model: mobilenet_v3_small}\n") == 1
    err = capsys.readouterr().err
    assert "expert 'tv' (torchvision mobilenet_v3_small (DEFAULT))" in err and "no route to host" in err


def test_a_device_that_is_not_there_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    zoo = "experts:\n  a: {origin: checkpoint, path: nowhere.pt}\n"
    assert _rank(tmp_path, zoo, "--device", "cuda") == 1
    assert "device 'cuda' asked for, but torch sees no GPU" in capsys.readouterr().err
    assert _rank(tmp_path, zoo, "--device", "tpu9") == 1
    assert "unknown device 'tpu9'" in capsys.readouterr().err

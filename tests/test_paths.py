"""Wildcards read back from the workflow's result paths."""

import pytest

from zooselect.paths import trailing_wildcards


def test_the_last_parts_of_a_path_name_its_wildcards():
    path = "results/scores/dots/5shot/lfc.csv"
    assert trailing_wildcards(path, ("target", "regime", "method")) == {
        "target": "dots",
        "regime": "5shot",
        "method": "lfc",
    }
    assert trailing_wildcards("results/stability/dots/full.csv", ("target", "regime")) == {
        "target": "dots",
        "regime": "full",
    }


def test_a_path_too_short_for_its_wildcards_is_named():
    with pytest.raises(ValueError, match="lfc.csv"):
        trailing_wildcards("lfc.csv", ("target", "regime", "method"))

"""The target-agnostic baselines: source accuracy and parameter count, read from the caches' attributes."""

import logging
import math

import numpy as np
import pandas as pd
import pytest

from zooselect.evaluation import spearman, weighted_tau
from zooselect.rank import check_methods
from zooselect.scores import compute_score, get_method, parameter_count_score, source_accuracy_score
from zooselect.selection import score_zoo

# A constructed zoo: each cache's attributes as cache extraction writes them.
ATTRS = {
    "big": {"source_accuracy": 0.70, "parameter_count": 60_000_000},
    "small": {"source_accuracy": 0.80, "parameter_count": 4_000_000},
    "medium": {"source_accuracy": 0.75, "parameter_count": 25_000_000},
}


def zoo(attrs=ATTRS):
    rng = np.random.default_rng(0)
    return [
        {
            "expert": name,
            "features": rng.normal(size=(6, 3)),
            "labels": np.arange(6) % 2,
            "attrs": {"expert": name, "target": "t", "regime": "full", **values},
        }
        for name, values in attrs.items()
    ]


def scores(rows):
    return {row["expert"]: row["score"] for row in rows}


def test_the_scores_are_the_attributes_whatever_the_target_data():
    results = score_zoo(zoo(), ["source_accuracy", "parameter_count"])
    assert scores(results["source_accuracy"]) == {"big": 0.70, "small": 0.80, "medium": 0.75}
    assert scores(results["parameter_count"]) == {"big": 60e6, "small": 4e6, "medium": 25e6}
    # Another target's arrays change nothing: the baselines read no target data.
    other = [dict(cache, features=cache["features"] * 10 + 3) for cache in zoo()]
    assert scores(score_zoo(other, ["source_accuracy"])["source_accuracy"]) == scores(results["source_accuracy"])


def test_hand_worked_rank_metrics_of_the_two_rankings():
    accuracy = pd.Series({"big": 0.90, "small": 0.80, "medium": 0.85})  # bigger fine-tunes better here
    by_size = pd.Series(scores(score_zoo(zoo(), ["parameter_count"])["parameter_count"]))
    by_source = pd.Series(scores(score_zoo(zoo(), ["source_accuracy"])["source_accuracy"]))
    assert spearman(by_size, accuracy) == pytest.approx(1.0) and weighted_tau(by_size, accuracy) == pytest.approx(1.0)
    assert spearman(by_source, accuracy) == pytest.approx(-1.0)
    assert weighted_tau(by_source, accuracy) == pytest.approx(-1.0)


def test_a_cache_without_the_attribute_is_refused_naming_the_expert(caplog):
    attrs = {**ATTRS, "medium": {"source_accuracy": 0.75}}  # written before caches carried the count
    with pytest.raises(ValueError, match="expert 'medium': its cache has no attribute 'parameter_count', which method 'parameter_count' needs"):
        score_zoo(zoo(attrs), ["parameter_count"])
    # A user's zoo (zooselect rank) records NaN for that expert and says why.
    with caplog.at_level(logging.WARNING):
        rows = score_zoo(zoo(attrs), ["parameter_count", "source_accuracy"], failures="nan")
    assert math.isnan(scores(rows["parameter_count"])["medium"]) and scores(rows["parameter_count"])["big"] == 60e6
    assert scores(rows["source_accuracy"])["medium"] == 0.75
    assert "expert 'medium': its cache has no attribute 'parameter_count'" in caplog.text


def test_an_unknown_source_accuracy_is_nan_in_a_users_zoo_with_the_reason(caplog):
    attrs = {**ATTRS, "timm_model": {"source_accuracy": math.nan, "parameter_count": 11_000_000}}
    with caplog.at_level(logging.WARNING):
        rows = score_zoo(zoo(attrs), ["source_accuracy"], failures="nan")
    assert math.isnan(scores(rows["source_accuracy"])["timm_model"])
    assert "source_accuracy could not score timm_model: the expert's source accuracy is unknown (NaN)" in caplog.text
    with pytest.raises(ValueError, match="source accuracy is unknown"):
        score_zoo(zoo(attrs), ["source_accuracy"])


@pytest.mark.parametrize("value", [76.13, -0.1, "0.7", True, None])
def test_a_source_accuracy_that_is_not_a_fraction_is_refused(value):
    with pytest.raises(ValueError, match="source_accuracy must be"):
        source_accuracy_score(value)


@pytest.mark.parametrize("value", [0, -5, 2.5, "10", True, None])
def test_a_parameter_count_that_is_not_a_positive_integer_is_refused(value):
    with pytest.raises(ValueError, match="parameter_count must be a positive integer"):
        parameter_count_score(value)


def test_the_scalars_as_hdf5_returns_them_are_accepted():
    assert compute_score("parameter_count", {"parameter_count": np.int64(25_557_032)}) == 25_557_032.0
    assert compute_score("source_accuracy", {"source_accuracy": np.float64(0.7613)}) == 0.7613
    assert parameter_count_score(3.0) == 3.0


def test_the_baselines_are_registered_and_usable_in_zooselect_rank():
    assert get_method("source_accuracy").inputs == ("source_accuracy",)
    assert get_method("parameter_count").inputs == ("parameter_count",)
    assert check_methods(["source_accuracy", "parameter_count", "lfc"]) == ["source_accuracy", "parameter_count", "lfc"]

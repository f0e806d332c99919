"""Model-selection scores and their registry: the one place that knows method names.

A score function takes arrays (and plain values) and returns a float; larger
means "fine-tune this expert". The registry records, for each method name,
which cached inputs the function takes (a subset of ``features``, ``labels``,
``probs``, ``expert``, ..., or of the per-expert scalars a cache carries as
attributes, ``source_accuracy`` and ``parameter_count``) and which options a config may set, so the workflow
scores any method with ``compute_score(name, cache, options)`` and a new
method joins with a single ``register(Method(...))`` call. Nothing here reads
files: the caller loads the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zooselect.scores._zoo import ZooTerms, min_max_combination
from zooselect.scores.domain_similarity import domain_similarity
from zooselect.scores.etran import check_etran_options, etran
from zooselect.scores.feature_metrics import combine_across_zoo, sparsity_metrics
from zooselect.scores.gbc import gbc
from zooselect.scores.hscore import hscore, hscore_regularized
from zooselect.scores.knn import check_knn_options, knn
from zooselect.scores.leep import leep
from zooselect.scores.lgc import lgc
from zooselect.scores.logme import logme
from zooselect.scores.mean_rank import DEFAULT_METHODS as MEAN_RANK_METHODS
from zooselect.scores.mean_rank import check_mean_rank_options, combine_ranks, mean_rank
from zooselect.scores.ncti import ncti
from zooselect.scores.nce import nce
from zooselect.scores.nleep import nleep
from zooselect.scores.parameter_count import parameter_count_score
from zooselect.scores.parc import parc
from zooselect.scores.lfc import lfc, lfc_centered, lfc_pairwise
from zooselect.scores.random_baseline import random_score
from zooselect.scores.rsa import rsa
from zooselect.scores.sfda import sfda, sfda_single_softmax
from zooselect.scores.source_accuracy import source_accuracy_score
from zooselect.scores.transrate import transrate

# Per-expert scalars, not arrays: every cache carries them as attributes
# (computed by zooselect.models.expert_attributes), and the scoring path
# (zooselect.selection.score_zoo) passes cache["attrs"][name] on under these names.
ATTRIBUTE_INPUTS: frozenset[str] = frozenset({"source_accuracy", "parameter_count"})
# What a score function may take: a cache's arrays (features, labels, probs,
# and gradients where a gradient method is configured), the expert's name,
# RSA's probe features on the same images, the expert's source class means,
# and the per-expert scalars above.
CACHE_INPUTS: frozenset[str] = (
    frozenset(
        {
            "features",
            "labels",
            "probs",
            "expert",
            "gradients",
            "probe_features",
            "source_means",
            "source_counts",
        }
    )
    | ATTRIBUTE_INPUTS
)


@dataclass(frozen=True)
class Method:
    """A registered model-selection method.

    name: the registry key, also the ``{method}`` wildcard and CSV value.
    func: called as ``func(**inputs, **options)`` and returns a float.
    inputs: names of the cache entries ``func`` takes (subset of CACHE_INPUTS).
    options: option name -> default value; the only options a config may set.
    summary: one line saying what the score measures.
    across_zoo: for methods whose final score compares experts with each other
        (Feature Metrics z-scores across the zoo): maps every expert's raw
        ``func`` value to its final score. None for per-expert scores.
    check_options: for option values that can be checked before any cache
        exists beyond their defaults' types (mean_rank's list of methods, knn's
        distance, etran's weights): called with a config's options, raises
        ValueError naming the problem. None: the types only (the config
        check, :func:`zooselect.options.check_value_types`); the rest is
        checked when scoring.
    """

    name: str
    func: Callable[..., float]
    inputs: tuple[str, ...]
    options: dict = field(default_factory=dict)
    summary: str = ""
    across_zoo: Callable[[dict[str, Any]], dict[str, float]] | None = None
    check_options: Callable[[Mapping[str, Any]], None] | None = None


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add `method` to METHODS; its name must be new and its inputs known."""
    if method.name in METHODS:
        raise ValueError(f"method '{method.name}' is already registered")
    unknown = set(method.inputs) - CACHE_INPUTS
    if unknown:
        raise ValueError(
            f"method '{method.name}' asks for unknown input(s) {sorted(unknown)}; "
            f"valid inputs: {sorted(CACHE_INPUTS)}"
        )
    clash = set(method.inputs) & set(method.options)
    if clash:
        raise ValueError(
            f"method '{method.name}' uses {sorted(clash)} both as input and option"
        )
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    """Return the registered method called `name`; unknown names raise ValueError."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}"
        ) from None


def check_option_names(method: Method, options: Mapping[str, Any]) -> None:
    """Raise ValueError naming any of `options` that `method` does not have, and its valid options."""
    unknown = sorted(set(options) - set(method.options))
    if unknown:
        valid = ", ".join(sorted(method.options)) or "none"
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for method "
            f"'{method.name}'; valid options: {valid}"
        )


def compute_score(
    name: str, cache: Mapping[str, Any], options: Mapping[str, Any] | None = None
) -> float:
    """Score one expert's cache with method `name`.

    Takes ``method.inputs`` from `cache` (a mapping with keys such as
    features, labels, probs, expert; extra keys are ignored), merges
    `options` over the method's defaults and calls the method's function.

    Raises ValueError for an unknown method, an unknown option (naming the
    option, the method and its valid options) or an input missing from the
    cache (naming it).
    """
    method = get_method(name)
    options = dict(options or {})
    check_option_names(method, options)
    missing = [key for key in method.inputs if key not in cache]
    if missing:
        raise ValueError(
            f"method '{method.name}' needs input(s) {', '.join(map(repr, missing))} "
            f"missing from the cache (it has: {', '.join(sorted(map(str, cache)))})"
        )
    kwargs = {key: cache[key] for key in method.inputs}
    kwargs.update(method.options)
    kwargs.update(options)
    value = method.func(**kwargs)
    # An across-zoo method's raw value is whatever its across_zoo step combines.
    return value if method.across_zoo is not None else float(value)


register(
    Method(
        name="lfc",
        func=lfc,
        inputs=("features", "labels"),
        options={},
        summary="Pearson correlation of the feature Gram matrix F F^T with the "
        "label similarity matrix (Deshpande et al. 2021)",
    )
)
register(
    Method(
        name="lfc_centered",
        func=lfc_centered,
        inputs=("features", "labels"),
        options={},
        summary="LFC on mean-centred features",
    )
)
register(
    Method(
        name="leep",
        func=leep,
        inputs=("probs", "labels"),
        options={},
        summary="mean log-likelihood of the target labels under the empirical "
        "source-to-target predictor (Nguyen et al. 2020)",
    )
)
register(
    Method(
        name="random",
        func=random_score,
        inputs=("expert",),
        options={"seed": 0},
        summary="seeded uniform random score: a random ranking of the zoo",
    )
)

register(
    Method(
        name="lgc",
        func=lgc,
        inputs=("gradients", "labels"),
        options={},
        summary="Pearson correlation of the per-sample gradient Gram matrix G G^T "
        "with the label similarity matrix (Deshpande et al. 2021)",
    )
)
register(
    Method(
        name="rsa",
        func=rsa,
        inputs=("features", "probe_features"),
        options={},
        summary="Spearman correlation of the expert's and a target-trained probe's "
        "representational dissimilarity matrices (Dwivedi & Roig 2019)",
    )
)
register(
    Method(
        name="domain_similarity",
        func=domain_similarity,
        inputs=("features", "labels", "source_means", "source_counts"),
        options={"gamma": 0.01, "min_images": 5},
        summary="exp(-gamma EMD) between source and target class-mean features "
        "(Cui et al. 2018)",
    )
)
register(
    Method(
        name="nce",
        func=nce,
        inputs=("probs", "labels"),
        options={},
        summary="negative conditional entropy -H(Y|Z) of the target labels given "
        "the source head's argmax (Tran et al. 2019)",
    )
)
register(
    Method(
        name="hscore",
        func=hscore,
        inputs=("features", "labels"),
        options={},
        summary="tr(cov(F)^+ cov(E[F|y])): the between-class share of the feature "
        "covariance (Bao et al. 2019)",
    )
)
register(
    Method(
        name="hscore_reg",
        func=hscore_regularized,
        inputs=("features", "labels"),
        options={},
        summary="H-score with cov(F) shrunk by Ledoit-Wolf (Ibrahim et al. 2022)",
    )
)
register(
    Method(
        name="logme",
        func=logme,
        inputs=("features", "labels"),
        options={},
        summary="log evidence of Bayesian linear regression of the one-hot labels "
        "on F, maximised over (alpha, beta), exact for N < D (You et al. 2021)",
    )
)
register(
    Method(
        name="nleep",
        func=nleep,
        inputs=("features", "labels"),
        options={"seed": 0, "variance": 0.8, "components_per_class": 5},
        summary="LEEP with the posteriors of a seeded Gaussian mixture on "
        "PCA-reduced features (Li et al. 2021)",
    )
)
register(
    Method(
        name="parc",
        func=parc,
        inputs=("features", "labels"),
        options={"dims": 32},
        summary="100 x Spearman correlation of the PCA-32 feature dissimilarity matrix "
        "with the label dissimilarity matrix (Bolya et al. 2021)",
    )
)
register(
    Method(
        name="gbc",
        func=gbc,
        inputs=("features", "labels"),
        options={"dims": 64},
        summary="minus the summed Bhattacharyya coefficients between spherical Gaussian "
        "class models on PCA-64 features (Pandy et al. 2022)",
    )
)
register(
    Method(
        name="transrate",
        func=transrate,
        inputs=("features", "labels"),
        options={"eps": 1e-4},
        summary="coding rate of centred unit-norm features minus the class-weighted "
        "conditional rate (Huang et al. 2022)",
    )
)
register(
    Method(
        name="sfda",
        func=sfda,
        inputs=("features", "labels"),
        options={},
        summary="mean true-class probability of regularised Fisher discriminant analysis "
        "after ConfMix self-challenge, as the authors' released code computes it "
        "(Shao et al. 2022)",
    )
)
register(
    Method(
        name="sfda_single_softmax",
        func=sfda_single_softmax,
        inputs=("features", "labels"),
        options={},
        summary="SFDA with ConfMix weighted by the true-class probability itself "
        "(our reading; the released code softmaxes twice) and the exact sigma_max",
    )
)
register(
    Method(
        name="knn",
        func=knn,
        inputs=("features", "labels"),
        options={"k": 20, "distance": "cosine"},
        summary="leave-one-out accuracy of a k-nearest-neighbour vote on the expert's "
        "features (Sorkhei et al. 2025)",
        check_options=check_knn_options,
    )
)
register(
    Method(
        name="etran",
        func=etran,
        inputs=("features", "labels"),
        options={
            "energy_weight": 0.15,
            "lda_weight": 0.85,
            "svd_weight": 0.0,
            "energy_fraction": 0.005,
            "lda_covariance": "identity",
            "svd_energy": 0.8,
        },
        summary="energy of the features as logits and LDA true-class probability, each "
        "min-max scaled across the zoo and weighted 0.15/0.85 (Gholami et al. 2023)",
        across_zoo=min_max_combination,
        check_options=check_etran_options,
    )
)
register(
    Method(
        name="ncti",
        func=ncti,
        inputs=("features", "labels"),
        options={"dims": 64, "variance_dims": 32},
        summary="neural-collapse index: LDA class spread and true-class probability minus "
        "within-class prediction rank, min-max scaled across the zoo (Wang et al. 2023)",
        across_zoo=min_max_combination,
    )
)
register(
    Method(
        name="mean_rank",
        func=mean_rank,
        inputs=("features", "labels", "probs", "expert"),
        options={"methods": MEAN_RANK_METHODS},
        summary="minus each expert's average rank in the zoo over the listed methods "
        "(default: five cheap closed-form scores of different families)",
        across_zoo=combine_ranks,
        check_options=check_mean_rank_options,
    )
)
register(
    Method(
        name="feature_metrics",
        func=sparsity_metrics,
        inputs=("features",),
        options={"tol": 1e-6},
        summary="target-feature sparsity (zero fraction, Hoyer) z-scored across the zoo, "
        "sparser = lower (our reading of Ueno & Kondo 2020)",
        across_zoo=combine_across_zoo,
    )
)

register(
    Method(
        name="source_accuracy",
        func=source_accuracy_score,
        inputs=("source_accuracy",),
        options={},
        summary="target-agnostic baseline: the expert's top-1 accuracy on its own source "
        "(ImageNet top-1 of torchvision's weights metadata; our experts' source test accuracy)",
    )
)
register(
    Method(
        name="parameter_count",
        func=parameter_count_score,
        inputs=("parameter_count",),
        options={},
        summary="target-agnostic baseline: the expert's number of parameters",
    )
)

__all__ = [
    "ATTRIBUTE_INPUTS",
    "CACHE_INPUTS",
    "METHODS",
    "Method",
    "compute_score",
    "ZooTerms",
    "check_option_names",
    "domain_similarity",
    "etran",
    "gbc",
    "hscore",
    "hscore_regularized",
    "get_method",
    "knn",
    "leep",
    "lfc",
    "lfc_centered",
    "lfc_pairwise",
    "lgc",
    "logme",
    "mean_rank",
    "min_max_combination",
    "ncti",
    "nce",
    "nleep",
    "parameter_count_score",
    "parc",
    "random_score",
    "register",
    "rsa",
    "sfda",
    "sfda_single_softmax",
    "source_accuracy_score",
    "transrate",
]

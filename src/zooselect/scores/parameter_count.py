"""Parameter count: a target-agnostic baseline that ranks experts by their size.

Bigger models fine-tune better often enough that on the field's standard
benchmark (11 torchvision ImageNet models, 11 targets) ranking by the number
of parameters alone reaches a mean weighted tau of 0.578 against the
published fine-tuned accuracies, above LEEP (0.410), LogME (0.509) and PARC
(0.467) (see ``data/published/`` and ``zooselect.standard_baselines``).
References: S. Sorkhei et al. 2025; "How NOT to benchmark your SITE metric"
(2025).

The count is a per-expert scalar, not an array: cache extraction stores it
in the cache's attributes (``parameter_count``, computed by
``zooselect.models.expert_attributes.parameter_count``) and the scoring path
passes it on. It reads no data of the target.
"""

from __future__ import annotations

import numbers


def parameter_count_score(parameter_count: int) -> float:
    """The expert's number of parameters (head included), as a float; larger ranks first.

    Only the order matters to the rank metrics (Spearman, Kendall, weighted
    tau, top-k); Pearson sees the raw count. Raises ValueError unless the
    count is a positive integer (an integral float, as a table may store
    it, is accepted).
    """
    valid = (
        not isinstance(parameter_count, bool)
        and isinstance(parameter_count, numbers.Real)
        and float(parameter_count).is_integer()
        and parameter_count > 0
    )
    if not valid:
        raise ValueError(f"parameter_count must be a positive integer; got {parameter_count!r}")
    return float(parameter_count)

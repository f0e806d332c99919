"""Source accuracy: a target-agnostic baseline that ranks experts by how well they do on their own source.

On the field's standard benchmark (11 torchvision ImageNet models, 11
targets), ranking by the models' ImageNet top-1 accuracy alone reaches a mean
weighted tau of 0.654 against the published fine-tuned accuracies: above
LEEP, LogME, NLEEP and PARC (see ``data/published/`` and
``zooselect.standard_baselines``). A method that does not beat it has not
shown that it reads anything from the target. References: S. Sorkhei et al.
2025; "How NOT to benchmark your SITE metric" (2025).

The value is a per-expert scalar, not an array: cache extraction stores it
in the cache's attributes (``source_accuracy``, computed by
``zooselect.models.expert_attributes``) and the scoring path passes it on.
It reads no data of the target.
"""

from __future__ import annotations

import math
import numbers


def source_accuracy_score(source_accuracy: float) -> float:
    """The expert's top-1 accuracy on its own source's test set, a fraction in [0, 1].

    torchvision weights: the ImageNet-1K top-1 of their metadata (acc@1 / 100);
    our trained experts: their source test accuracy (checkpoint metrics
    ``source_test_accuracy``); timm: unknown (its pretrained_cfg has no
    accuracy), so NaN. Larger means "fine-tune this expert"; the same score
    on every target.

    Raises ValueError when the accuracy is NaN (the expert's weights publish
    none: it cannot be ranked, so ``zooselect rank`` shows NaN and the
    benchmark stops) or is not a number in [0, 1] (a percentage, say).
    """
    if isinstance(source_accuracy, bool) or not isinstance(source_accuracy, numbers.Real):
        raise ValueError(f"source_accuracy must be a number in [0, 1]; got {source_accuracy!r}")
    value = float(source_accuracy)
    if math.isnan(value):
        raise ValueError(
            "the expert's source accuracy is unknown (NaN): its weights publish none (timm's "
            "pretrained_cfg has no accuracy; a plain state dict or a random initialisation has none); "
            "see zooselect.models.expert_attributes"
        )
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"source_accuracy must be a fraction in [0, 1]; got {value!r} (a percentage?)")
    return value

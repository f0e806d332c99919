"""LGC: Label-Gradient Correlation (Deshpande et al. 2021, eq. 7-8).

The same Pearson correlation as LFC, with the Gram matrix of per-sample
gradients G Gᵀ in place of F Fᵀ. The gradients (w.r.t. the expert's last
convolutional layer, of a closed-form ridge head's squared loss, randomly
projected to Dg dimensions) are computed when the cache is extracted:
see ``zooselect.gradients``.
"""

from __future__ import annotations

import numpy as np

from zooselect.scores.lfc import lfc


def lgc(gradients: np.ndarray, labels: np.ndarray) -> float:
    """Pearson correlation between the N² entries of G Gᵀ and of the label agreement matrix.

    gradients: (N, Dg) projected per-sample gradients; labels: (N,) target
    classes. Exact, in the fast form of ``lfc`` (no N×N matrix).
    """
    return lfc(gradients, labels)

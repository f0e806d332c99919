"""LEEP, the Log Expected Empirical Prediction (a baseline in Deshpande et al. 2021).

Reference: C. V. Nguyen, T. Hassner, M. Seeger, C. Archambeau. "LEEP: A New
Measure to Evaluate Transferability of Learned Representations", ICML 2020.

Uses only the expert's source-head softmax on the target samples; never
reads files.
"""

from __future__ import annotations

import numpy as np

from zooselect.scores._validation import check_labels, check_probabilities


def leep(probs: np.ndarray, labels: np.ndarray) -> float:
    r"""Log Expected Empirical Prediction of the target labels from the source head.

    With P (N x Cs) the expert's source-class softmax on the N target samples
    and y (N,) the target labels:

        P(y, z)  = (1/N) sum_{i: y_i = y} P_iz       (empirical joint, C x Cs)
        P(z)     = sum_y P(y, z) = (1/N) sum_i P_iz
        P(y | z) = P(y, z) / P(z)
        LEEP     = (1/N) sum_i log( sum_z P(y_i | z) P_iz )

    Guard: a source class z that gets no probability mass on any sample has
    P(z) = 0 and P(y, z) = 0; its conditional is set to 0 (it multiplies
    P_iz = 0 anyway). With that, log(0) cannot occur in exact arithmetic:
    for every i, sum_z P(y_i|z) P_iz >= max_z P_iz^2 / N >= 1 / (N Cs^2) > 0.
    The argument of the log is still clipped at the smallest positive float64
    so that rounding can never produce -inf.

    Parameters
    ----------
    probs : (N, Cs) array
        Rows are source-class probabilities: finite, non-negative, summing to
        1 within 1e-4. Computed in float64.
    labels : (N,) integer array
        Target class ids in 0..C-1.

    Returns
    -------
    float <= 0; larger (closer to 0) means the source head already predicts
    the target labels well, i.e. "fine-tune this expert".
    """
    p = check_probabilities(probs)
    y = check_labels(labels, p.shape[0])
    n = p.shape[0]
    n_classes = int(y.max()) + 1

    joint = np.zeros((n_classes, p.shape[1]), dtype=np.float64)
    for c in np.unique(y):
        joint[c] = p[y == c].sum(axis=0)
    joint /= n
    marginal = joint.sum(axis=0)  # P(z), (Cs,)
    conditional = np.divide(
        joint, marginal, out=np.zeros_like(joint), where=marginal > 0
    )  # P(y | z), (C, Cs)

    expected = np.einsum("iz,iz->i", conditional[y], p)  # sum_z P(y_i|z) P_iz
    expected = np.maximum(expected, np.finfo(np.float64).tiny)
    return float(np.mean(np.log(expected)))

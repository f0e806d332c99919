"""NCE, the Negative Conditional Entropy of the target labels given the source argmax.

Reference: A. T. Tran, C. V. Nguyen, T. Hassner. "Transferability and Hardness
of Supervised Classification Tasks", ICCV 2019.

A method from later work (not in Deshpande et al. 2021). Uses only the
expert's source-head softmax on the target samples; never reads files.
"""

from __future__ import annotations

import numpy as np

from zooselect.scores._validation import (
    check_labels,
    check_probabilities,
    require_classes,
)


def nce(probs: np.ndarray, labels: np.ndarray) -> float:
    r"""Negative conditional entropy -H(Y | Z) of the labels given the source argmax.

    With P (N x Cs) the expert's source-class softmax on the N target samples
    and y (N,) the target labels, each sample gets the hard source label
    z_i = argmax_z P_iz (ties go to the lowest source class id, as
    ``np.argmax``). From the counts n(y, z) = #{i : y_i = y, z_i = z}:

        P(y, z)  = n(y, z) / N                  (empirical joint, C x Cs)
        P(z)     = sum_y P(y, z)
        P(y | z) = P(y, z) / P(z)
        NCE      = -H(Y | Z) = sum_{y, z} P(y, z) log P(y | z)

    with 0 log 0 = 0 (pairs that never occur contribute nothing, and source
    classes that are nobody's argmax drop out). Unlike LEEP, only the argmax
    of each row matters, not the probabilities themselves.

    Parameters
    ----------
    probs : (N, Cs) array
        Rows are source-class probabilities (finite, non-negative, summing to
        1 within 1e-4; validated like LEEP's input). Computed in float64.
    labels : (N,) integer array
        Target class ids in 0..C-1, at least two distinct classes.

    Returns
    -------
    float in [-log C, 0] (C = number of distinct target classes); 0 when the
    source argmax determines the target label, i.e. "fine-tune this expert".

    Raises
    ------
    ValueError
        On invalid probabilities or labels (see `check_probabilities`,
        `check_labels`), or fewer than 2 distinct target classes: with one
        class H(Y | Z) = 0 for every expert, so the score cannot rank them.
    """
    p = check_probabilities(probs)
    y = check_labels(labels, p.shape[0])
    classes, y_index = np.unique(y, return_inverse=True)
    require_classes(
        classes.size,
        "NCE",
        "with a single class H(Y|Z) = 0 for every expert and the score cannot rank them",
    )
    n = p.shape[0]
    z = np.argmax(p, axis=1)

    counts = np.zeros((classes.size, p.shape[1]), dtype=np.float64)
    np.add.at(counts, (y_index, z), 1.0)
    joint = counts / n
    marginal = joint.sum(axis=0)  # P(z)
    occurs = joint > 0  # P(z) > 0 wherever P(y, z) > 0
    conditional = joint[occurs] / np.broadcast_to(marginal, joint.shape)[occurs]
    return float(np.sum(joint[occurs] * np.log(conditional)))

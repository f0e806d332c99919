"""RSA: Representation Similarity Analysis against a small probe network.

Dwivedi & Roig, "Representation Similarity Analysis for Efficient Task
taxonomy & Transfer Learning", CVPR 2019.
"""

from __future__ import annotations

import numpy as np

from zooselect.scores._validation import check_features


def dissimilarity_matrix(features: np.ndarray) -> np.ndarray:
    """RDM: 1 − Pearson correlation between the feature vectors of each pair of images (N, N).

    An image whose features are constant has no correlation with any other;
    its row is set to 1 (uncorrelated) so it neither helps nor breaks the score.
    """
    f = features - features.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(f, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    unit = f / safe[:, None]
    rdm = 1.0 - unit @ unit.T
    rdm[norms == 0, :] = 1.0
    rdm[:, norms == 0] = 1.0
    np.fill_diagonal(rdm, 0.0)
    return rdm


def rsa(features: np.ndarray, probe_features: np.ndarray) -> float:
    """Spearman correlation between the upper triangles of the expert's RDM and the probe's.

    features: (N, D) the expert's penultimate features on the sampled target images;
    probe_features: (N, Dp) features of a small probe network trained on those
    same images (once per target and regime, shared by every expert). Larger
    means the expert represents the target images the way a network trained
    on the target does. Label-free.
    """
    f = check_features(features)
    p = check_features(probe_features, "probe_features")
    if len(f) != len(p):
        raise ValueError(
            f"features have {len(f)} rows but probe_features {len(p)}: not the same images"
        )
    if len(f) < 3:
        raise ValueError(
            "RSA needs at least 3 images (2 pairs) to correlate dissimilarities"
        )
    upper = np.triu_indices(len(f), k=1)
    from scipy.stats import spearmanr  # lazy: keeps importing the registry light

    rho = spearmanr(
        dissimilarity_matrix(f)[upper], dissimilarity_matrix(p)[upper]
    ).statistic
    if not np.isfinite(rho):
        raise ValueError(
            "RSA is undefined: one of the dissimilarity matrices is constant"
        )
    return float(rho)

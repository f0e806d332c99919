"""TransRate, a coding-rate estimate of feature-label mutual information (a later-work method).

Reference: L.-K. Huang, J. Huang, Y. Rong, Q. Yang, Y. Wei. "Frustratingly
Easy Transferability Estimation", ICML 2022. The coding rate is that of
Y. Yu, K. H. R. Chan, C. You, C. Song, Y. Ma. "Learning Diverse and
Discriminative Representations via the Principle of Maximal Coding Rate
Reduction" (MCR^2), NeurIPS 2020.

Follows the paper's formula (d / (n eps^2) scaling, class weights n_c / n),
not the differing public code. Never reads files.
"""

from __future__ import annotations

import numpy as np

from zooselect.scores._validation import check_features, check_labels, present_classes

# A centred feature vector shorter than this fraction of the longest one is
# taken to be the mean itself (a zero row): normalising it would turn rounding
# noise into a unit vector.
_ZERO_ROW = 1e-12


def coding_rate(z: np.ndarray, eps: float) -> float:
    r"""R(Z, eps) = 1/2 log det(I_d + d / (n eps^2) Z^T Z) for Z (n x d), in float64.

    By Sylvester's identity det(I_d + a Z^T Z) = det(I_n + a Z Z^T), so the
    determinant comes from the eigenvalues lambda_i >= 0 of the smaller Gram
    matrix: R = 1/2 sum_i log1p(a lambda_i), a = d / (n eps^2). O(n d min(n, d)).
    Eigenvalues at most max(n, d) * eps_float64 * lambda_max are rounding noise
    of exact zeros (e.g. the direction removed by centring) and count as 0:
    multiplied by a large a they would otherwise add spurious rate.
    """
    n, d = z.shape
    gram = z @ z.T if n <= d else z.T @ z
    eigenvalues = np.linalg.eigvalsh(gram)
    noise = max(n, d) * np.finfo(np.float64).eps * max(float(eigenvalues.max()), 0.0)
    eigenvalues = np.where(eigenvalues > noise, eigenvalues, 0.0)
    scale = d / (n * eps * eps)
    return float(0.5 * np.sum(np.log1p(scale * eigenvalues)))


def transrate(features: np.ndarray, labels: np.ndarray, eps: float = 1e-4) -> float:
    r"""TransRate = R(Z, eps) - sum_c (n_c / n) R(Z_c, eps), the paper's definition.

    With F (n x d) the expert's features of the n target images:

    1. Z = rows of (F - mean(F)), each scaled to unit Euclidean norm (a row
       equal to the mean stays zero);
    2. R(Z, eps) = 1/2 log det(I_d + d / (n eps^2) Z^T Z)  (`coding_rate`);
    3. Z_c = the n_c rows of Z of class c (not re-centred), with
       R(Z_c, eps) = 1/2 log det(I_d + d / (n_c eps^2) Z_c^T Z_c);
    4. TransRate = R(Z, eps) - sum_c (n_c / n) R(Z_c, eps).

    R(Z) estimates the entropy of the features and the weighted class sum
    their entropy given the label (the MCR^2 form of the conditional coding
    rate, which the paper uses), so TransRate estimates the mutual information
    between features and labels.

    Normalisation, and why. Centring (as the authors' code does): entropy does
    not depend on where the features sit, but the coding rate of uncentred
    features counts their common offset as one more informative direction.
    Scale: the coding rate is not scale-free; multiplying F by s shifts the
    score by about (rank Z - sum_c (n_c/n) rank Z_c) log s, so experts would
    be ranked partly by the scale of their features. We therefore put each
    centred feature vector on the unit sphere, the normalisation under which
    the MCR^2 coding rate is derived (eps is then a distortion relative to a
    unit-norm feature), as docs/methods.md asks. The score is invariant to translation and
    positive scaling of the features and to relabelling of the classes.

    With a small eps the log-determinants are dominated by rank terms
    (each non-zero eigenvalue adds about 1/2 log(d lambda / (n eps^2))), which
    are the same for experts of full rank; rankings then come from the
    log-spectrum. eps is the option to study this.

    Parameters
    ----------
    features : (n, d) array
        Penultimate-layer features of the target images under one expert.
    labels : (n,) integer array
        Target class ids; at least 2 classes present. Classes of 1 or 2 images
        are fine (their coding rate is that of 1 or 2 vectors).
    eps : float > 0
        The distortion epsilon of the coding rate (default 1e-4). Public code
        uses 1/(n eps) instead of d/(n eps^2): its eps = 1e-4 equals this
        function's eps = sqrt(d * 1e-4), e.g. about 0.45 at d = 2048.

    Returns
    -------
    float; larger means the features carry more information about the
    labels, i.e. "fine-tune this expert". Constant features give 0.0 (every
    centred row is zero, so every coding rate is 0: no information).

    Raises
    ------
    ValueError
        On bad shapes, NaN/inf features, non-integer labels, a non-positive or
        non-finite eps, or fewer than 2 classes (a single class leaves no
        label information to measure; the formula would give 0 for every
        expert).
    """
    feats = check_features(features)
    labs = check_labels(labels, feats.shape[0])
    if isinstance(eps, bool) or not isinstance(
        eps, (int, float, np.integer, np.floating)
    ):
        raise ValueError(f"eps must be a positive number; got {eps!r}")
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive finite number; got {eps!r}")
    eps = float(eps)
    _, y, counts = present_classes(
        labs, "TransRate", "with a single class there is no label information to measure"
    )

    z = feats - feats.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(z, axis=1)
    longest = float(norms.max())
    if longest == 0.0:
        return 0.0
    nonzero = norms > _ZERO_ROW * longest
    z[nonzero] /= norms[nonzero, None]
    z[~nonzero] = 0.0

    n = z.shape[0]
    rate = coding_rate(z, eps)
    conditional = sum(
        (count / n) * coding_rate(z[y == c], eps) for c, count in enumerate(counts)
    )
    return float(rate - conditional)

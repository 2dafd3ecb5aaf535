"""FID and diversity on GT-normalised features (Bailando `metrics_new.py`, docs/bailando.md §6)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
from scipy import linalg

logger = logging.getLogger(__name__)

NORMALISE_EPS = 1e-10
SQRTM_RETRY_EPS = 1e-5


def normalise(features: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(x - mean_ref) / (std_ref + 1e-10): both sets are scaled by the ground-truth statistics."""
    reference = np.asarray(reference, dtype=np.float64)
    return (np.asarray(features, dtype=np.float64) - reference.mean(0)) / (
        reference.std(0) + NORMALISE_EPS
    )


def frechet_distance(generated: np.ndarray, reference: np.ndarray, method: str = "sqrtm") -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows are samples).

    method="sqrtm" (default, the reference): unbiased covariances, scipy
    `sqrtm(S1 S2)`, retried with 1e-5 I added to both covariances when the root
    is not finite. The reference returns a complex number when the root has
    small imaginary parts; this returns its real part (the same value), always
    as a Python float. Taking a square root of a rank-deficient product (40
    samples, 72 dims) amplifies rounding to ~1e-5.

    method="svd": the same quantity computed exactly: tr sqrt(S1 S2) is the
    nuclear norm of X1c X2c^T / sqrt((n1 - 1)(n2 - 1)) for centred data X1c,
    X2c, so no square root of a near-zero eigenvalue is ever taken (FID of a
    set against itself is 0 to ~1e-12).
    """
    x = np.asarray(generated, dtype=np.float64)
    y = np.asarray(reference, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"feature sets must be (N, D) with the same D, got {x.shape} and {y.shape}"
        )
    if len(x) < 2 or len(y) < 2:
        raise ValueError("FID needs at least two samples in each set")
    mu1, mu2 = x.mean(0), y.mean(0)
    sigma1, sigma2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    diff = mu1 - mu2
    if method == "svd":
        cross = (x - mu1) @ (y - mu2).T / np.sqrt((len(x) - 1) * (len(y) - 1))
        tr_covmean = float(np.linalg.svd(cross, compute_uv=False).sum())
    elif method == "sqrtm":
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", linalg.LinAlgWarning
            )  # singular products are the norm here
            covmean = linalg.sqrtm(sigma1.dot(sigma2))
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * SQRTM_RETRY_EPS
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
        if np.iscomplexobj(covmean):
            imaginary = np.abs(np.diagonal(covmean).imag).max()
            if imaginary > 1e-3:
                logger.warning(
                    "FID: dropping an imaginary component of %.3g in sqrtm (as the reference does)",
                    imaginary,
                )
            covmean = covmean.real
        tr_covmean = float(np.trace(covmean))
    else:
        raise ValueError(f"unknown FID method {method!r}: use 'sqrtm' (reference) or 'svd'")
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def average_pairwise_distance(features: np.ndarray) -> float:
    """Mean Euclidean distance over all unordered pairs of rows (DIV)."""
    x = np.asarray(features, dtype=np.float64)
    n = len(x)
    if n < 2:
        raise ValueError("diversity needs at least two samples")
    i, j = np.triu_indices(n, k=1)
    return float(np.sqrt(((x[i] - x[j]) ** 2).sum(-1)).sum() / ((n * n - n) / 2))

"""Frechet distance between Gaussians fitted to two feature sets (FID when the features are
TF-Inception pool3; FD_<extractor> otherwise).

d^2 = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)). The trace of the matrix square root
is taken from the eigenvalues of the symmetric PSD matrix S_a^(1/2) S_b S_a^(1/2), which has the
same spectrum as S_a S_b; unlike `scipy.linalg.sqrtm(S_a @ S_b)` this never returns complex
noise for the rank-deficient covariances that small medical sets give (n < 2048).
"""

from __future__ import annotations

import numpy as np


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of (N, D) features, in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError("need at least two feature vectors of shape (N, D)")
    if not np.isfinite(features).all():
        raise ValueError("Frechet distance needs finite features: NaN or inf found")
    return features.mean(0), np.cov(features, rowvar=False).reshape(features.shape[1], -1)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_from_stats(
    mu_a: np.ndarray, sigma_a: np.ndarray, mu_b: np.ndarray, sigma_b: np.ndarray
) -> float:
    """Frechet distance of N(mu_a, sigma_a) and N(mu_b, sigma_b), computed in float64 (float32
    statistics lose digits in the eigenvalues: FD off in the fourth significant figure)."""
    mu_a, sigma_a, mu_b, sigma_b = (
        np.asarray(x, dtype=np.float64) for x in (mu_a, sigma_a, mu_b, sigma_b)
    )
    root_a = _psd_sqrt(sigma_a)
    middle = root_a @ sigma_b @ root_a
    eigen = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = float(np.sqrt(np.clip(eigen, 0, None)).sum())
    mean_term = float(np.sum((mu_a - mu_b) ** 2))
    value = mean_term + float(np.trace(sigma_a) + np.trace(sigma_b)) - 2.0 * trace_sqrt
    return max(value, 0.0)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between two (N, D) feature sets."""
    return frechet_from_stats(*feature_stats(features_a), *feature_stats(features_b))

"""Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial
kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets (mean +- std).

Unbiased means the diagonal terms are left out, so two draws of one distribution give a mean
near 0 (it can be slightly negative); unlike FD it has no bias that depends on the sample size.

Subsets are sized from the data: min(subset_size, half the smaller set), at least 2. A subset as
large as the smaller set would be that whole set every time, and the std over subsets would be
0 (or reflect only the larger set), as if the number had no uncertainty. With half-size subsets
the std is the spread of a KID computed from that many images: it somewhat overstates the
uncertainty of the mean over subsets, never hides it.
"""

from __future__ import annotations

import numpy as np


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 estimate between two samples (each at least 2 rows)."""
    m, n = len(x), len(y)
    k_xx = _polynomial_kernel(x, x)
    k_yy = _polynomial_kernel(y, y)
    k_xy = _polynomial_kernel(x, y)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def subset_rows(n_a: int, n_b: int, subset_size: int = 1000) -> int:
    """min(subset_size, half the smaller set), at least 2: subsets that actually differ."""
    return max(2, min(subset_size, min(n_a, n_b) // 2))


def kernel_distance(
    features_a: np.ndarray,
    features_b: np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, float | int]:
    """KID mean and std over `subsets` random subsets of `subset_rows(...)` rows each."""
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"KID needs (N, D) feature arrays, not shapes {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 2:
        raise ValueError("KID needs at least two feature vectors in each set")
    if subsets < 1:  # no subsets: a mean and std of nothing, NaN
        raise ValueError(f"KID needs at least one subset, not subsets={subsets}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("KID needs finite features: NaN or inf found")
    size = subset_rows(len(a), len(b), subset_size)
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        values[i] = mmd2_unbiased(
            a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)]
        )
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "subsets": subsets,
        "subset_size": size,
    }

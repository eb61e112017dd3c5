"""95% percentile-bootstrap intervals for metrics that are means of per-sample values.

Cheap because only the per-sample values are resampled; the reference (real manifold, trained
classifier, threshold) is held fixed, so the interval covers the sampling of the evaluated images,
not the reference's own variability.
"""

from __future__ import annotations

import numpy as np


def bootstrap_mean_ci(
    values: np.ndarray, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> list[float] | None:
    """[low, high] of the mean of `values`; None when there are fewer than two values."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return None
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return [float(low), float(high)]

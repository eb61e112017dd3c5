"""95% percentile-bootstrap intervals for metrics that are means of per-sample values.

Cheap because only the per-sample values are resampled; the reference (real manifold, trained
classifier, threshold) is held fixed, so the interval covers the sampling of the evaluated images,
not the reference's own variability. Shares of the *real* images (PRDC's recall and coverage)
resample the evaluated images that reach them (`bootstrap_reach_ci`), not the real ones.
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


def bootstrap_reach_ci(
    reaches: np.ndarray, resamples: int = 1000, seed: int = 0, level: float = 0.95, chunk: int = 100
) -> list[float] | None:
    """[low, high] of the share of rows reached by at least one column, `reaches` (rows,
    columns) boolean, over resamples of the columns (the evaluated images) with replacement:
    how far that share moves with which images were drawn. None with fewer than two columns."""
    reaches = np.asarray(reaches, dtype=np.float32)
    columns = reaches.shape[1]
    if columns < 2:
        return None
    rng = np.random.default_rng(seed)
    shares = []
    for start in range(0, resamples, chunk):  # (columns, chunk) draw counts: one matmul
        n = min(chunk, resamples - start)
        drawn = rng.integers(0, columns, size=(n, columns))
        counts = np.zeros((columns, n), dtype=np.float32)
        np.add.at(counts, (drawn, np.arange(n)[:, None]), 1.0)
        shares.append(((reaches @ counts) > 0).mean(0))
    shares = np.concatenate(shares)
    tail = (1.0 - level) / 2 * 100
    # a resample holds about 63 % distinct images and duplicates reach nothing new, so its
    # shares sit below the observed one: their spread is kept, centred on the observed share
    observed = float((reaches.sum(1) > 0).mean())
    low, high = np.percentile(shares, [tail, 100 - tail]) - shares.mean() + observed
    return [float(np.clip(low, 0.0, 1.0)), float(np.clip(high, 0.0, 1.0))]

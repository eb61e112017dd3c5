"""Precision and recall (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020).

Each real image gets a ball whose radius is the distance to its k-th nearest real neighbour
(the fake images likewise for recall). Precision: share of fakes inside some real ball.
Recall: share of reals inside some fake ball. Density: mean number of real balls holding a fake,
divided by k. Coverage: share of real balls that hold at least one fake. Dropping a mode lowers
recall and coverage; precision and density stay high.
"""

from __future__ import annotations

import numpy as np

from gaunet.metrics.bootstrap import bootstrap_mean_ci


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (len(a), len(b)) in float64, without the (N, M, D) broadcast."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(squared, 0, None))


def kth_neighbour_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row to its k-th nearest other row."""
    distances = pairwise_distances(features, features)
    return np.partition(distances, k, axis=1)[:, k]  # column 0 is the row itself


def prdc_values(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, np.ndarray]:
    """Per-sample indicators whose means are precision, recall, density and coverage."""
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"PRDC with k={k} needs more than {k} real and {k} synthetic samples")
    real_radii = kth_neighbour_radii(real, k)
    fake_radii = kth_neighbour_radii(fake, k)
    real_fake = pairwise_distances(real, fake)
    inside_real = real_fake < real_radii[:, None]  # (real, fake): fake inside real ball
    return {
        "precision": inside_real.any(0).astype(np.float64),
        "recall": (real_fake < fake_radii[None, :]).any(1).astype(np.float64),
        "density": inside_real.sum(0) / k,
        "coverage": (real_fake.min(1) < real_radii).astype(np.float64),
    }


def prdc(
    real: np.ndarray, fake: np.ndarray, k: int = 5, resamples: int = 1000, seed: int = 0
) -> dict[str, dict[str, float | list[float] | None]]:
    """{metric: {"value", "ci95"}} with bootstrap intervals over the per-sample indicators."""
    values = prdc_values(real, fake, k)
    return {
        name: {
            "value": float(v.mean()),
            "ci95": bootstrap_mean_ci(v, resamples=resamples, seed=seed),
        }
        for name, v in values.items()
    }

"""Precision and recall (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020).

Each real image gets a ball whose radius is the distance to its k-th nearest real neighbour
(the fake images likewise for recall). Precision: share of fakes inside some real ball.
Recall: share of reals inside some fake ball. Density: mean number of real balls holding a fake,
divided by k. Coverage: share of real balls that hold at least one fake. Dropping a mode lowers
recall and coverage; precision and density stay high.
"""

from __future__ import annotations

import numpy as np

from gaunet.metrics.bootstrap import bootstrap_mean_ci, bootstrap_reach_ci


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
    precision, density, recall_balls, coverage_balls = _balls(real, fake, k)
    return {
        "precision": precision,
        "recall": recall_balls.any(1).astype(np.float64),
        "density": density,
        "coverage": coverage_balls.any(1).astype(np.float64),
    }


def _balls(real: np.ndarray, fake: np.ndarray, k: int):
    """(precision and density per fake, then (real, fake) booleans: real inside the fake's
    ball (recall), fake inside the real's ball (coverage))."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        # k=0: every radius 0, density divides by 0; k<0 indexes radii from the far end
        raise ValueError(f"PRDC needs a whole k of at least 1, not k={k!r}")
    if np.ndim(real) != 2 or np.ndim(fake) != 2:
        raise ValueError("PRDC needs (N, D) feature arrays for the real and synthetic sets")
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"PRDC with k={k} needs more than {k} real and {k} synthetic samples")
    if not (np.isfinite(real).all() and np.isfinite(fake).all()):  # NaN compares False: 0.0
        raise ValueError("PRDC needs finite features: NaN or inf found")
    real_radii = kth_neighbour_radii(real, k)
    fake_radii = kth_neighbour_radii(fake, k)
    real_fake = pairwise_distances(real, fake)
    inside_real = real_fake < real_radii[:, None]  # (real, fake): fake inside real ball
    precision = inside_real.any(0).astype(np.float64)
    density = inside_real.sum(0) / k
    return precision, density, real_fake < fake_radii[None, :], inside_real


def prdc(
    real: np.ndarray, fake: np.ndarray, k: int = 5, resamples: int = 1000, seed: int = 0
) -> dict[str, dict[str, float | list[float] | None]]:
    """{metric: {"value", "ci95"}}. Every interval resamples the synthetic images, the real
    reference held fixed (bootstrap.py): precision and density are means over the synthetic
    images; recall and coverage are shares of real images, so their resamples redraw which
    synthetic images (each with the ball of the whole set) are there to reach them."""
    precision, density, recall_balls, coverage_balls = _balls(real, fake, k)
    result = {
        name: {"value": float(v.mean()), "ci95": bootstrap_mean_ci(v, resamples, seed)}
        for name, v in (("precision", precision), ("density", density))
    }
    for name, balls in (("recall", recall_balls), ("coverage", coverage_balls)):
        result[name] = {
            "value": float(balls.any(1).mean()),
            "ci95": bootstrap_reach_ci(balls, resamples, seed),
        }
    return {name: result[name] for name in ("precision", "recall", "density", "coverage")}

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

CHUNK = 1024  # rows per distance block: (CHUNK, N) float64, not (N, N): 20 GB at N = 50,000


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (len(a), len(b)) in float64, without the (N, M, D) broadcast; equal
    rows at exactly 0 (`_zero_equal_rows`)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norms_a, norms_b = (a * a).sum(1), (b * b).sum(1)
    squared = norms_a[:, None] + norms_b[None, :] - 2.0 * a @ b.T
    _zero_equal_rows(squared, a, b, 1e-9 * (norms_a[:, None] + norms_b[None, :]))
    return np.sqrt(np.clip(squared, 0, None))


def _zero_equal_rows(squared: np.ndarray, a: np.ndarray, b: np.ndarray, slack: np.ndarray) -> None:
    """Set to 0 the squared distances of equal rows, which |a|^2 + |b|^2 - 2 a.b leaves as
    rounding noise (1e-7 to 1e-5 for Inception features). With k identical (blank) images a
    PRDC ball's radius was that noise, and whether an identical synthetic image fell strictly
    inside it changed with the row order, the dtype and the BLAS thread count."""
    rows, columns = np.nonzero(squared <= slack)  # far above the rounding; few pairs
    if not len(rows):
        return
    used_a, used_b = np.unique(rows), np.unique(columns)
    candidates = np.ascontiguousarray(np.concatenate([a[used_a], b[used_b]]) + 0.0)  # -0.0
    keys = candidates.view(np.dtype((np.void, 8 * a.shape[1]))).ravel()
    ids = np.unique(keys, return_inverse=True)[1].reshape(-1)
    id_a, id_b = np.empty(len(a), np.int64), np.empty(len(b), np.int64)
    id_a[used_a], id_b[used_b] = ids[: len(used_a)], ids[len(used_a) :]
    equal = id_a[rows] == id_b[columns]
    squared[rows[equal], columns[equal]] = 0.0


def kth_neighbour_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row to its k-th nearest other row, CHUNK rows at a time."""
    features = np.asarray(features, dtype=np.float64)
    radii = [
        np.partition(pairwise_distances(features[start : start + CHUNK], features), k, axis=1)[
            :, k
        ]  # column 0 is the row itself
        for start in range(0, len(features), CHUNK)
    ]
    return np.concatenate(radii) if radii else np.zeros(0)


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
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    real_radii = kth_neighbour_radii(real, k)
    fake_radii = kth_neighbour_radii(fake, k)
    inside_real = np.empty((len(real), len(fake)), dtype=bool)  # fake inside real ball
    inside_fake = np.empty((len(real), len(fake)), dtype=bool)  # real inside fake ball
    for start in range(0, len(real), CHUNK):  # (real, fake) distances in bounded blocks
        real_fake = pairwise_distances(real[start : start + CHUNK], fake)
        inside_real[start : start + CHUNK] = real_fake < real_radii[start : start + CHUNK, None]
        inside_fake[start : start + CHUNK] = real_fake < fake_radii[None, :]
    precision = inside_real.any(0).astype(np.float64)
    density = inside_real.sum(0) / k
    return precision, density, inside_fake, inside_real


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

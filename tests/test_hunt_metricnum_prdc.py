"""PRDC numerics: identical (blank) feature rows, and the size of the distance blocks."""

from __future__ import annotations

import numpy as np
import pytest

import gaunet.metrics.prdc as prdc_module
from gaunet.metrics.prdc import kth_neighbour_radii, pairwise_distances, prdc


def _values(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    return {name: entry["value"] for name, entry in prdc(real, fake, k=k, resamples=10).items()}


def _one_by_one(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """PRDC from distances computed from the difference vectors (exact 0 for equal rows)."""

    def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))

    real_radii = np.sort(distances(real, real), 1)[:, k]
    fake_radii = np.sort(distances(fake, fake), 1)[:, k]
    inside_real = distances(real, fake) < real_radii[:, None]
    return {
        "precision": inside_real.any(0).mean(),
        "recall": (distances(real, fake) < fake_radii[None, :]).any(1).mean(),
        "density": inside_real.sum(0).mean() / k,
        "coverage": inside_real.any(1).mean(),
    }


def _with_blanks(seed: int = 1, dim: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Inception-like features, shuffled: distinct images and many copies of one blank's, far
    from the others (no distinct image has a blank as its k-th neighbour: no exact ties)."""
    rng = np.random.default_rng(seed)
    distinct = np.abs(rng.normal(0.4, 0.5, size=(30, dim)))
    blank = np.abs(rng.normal(3.0, 0.5, size=(1, dim)))
    real = np.vstack([distinct[:15], np.repeat(blank, 10, 0)])[rng.permutation(25)]
    fake = np.vstack([distinct[15:], np.repeat(blank, 12, 0)])[rng.permutation(27)]
    return real, fake


def test_identical_rows_are_at_distance_zero() -> None:
    """From |a|^2 + |b|^2 - 2 a.b the distance of two equal rows was rounding noise (~1e-5)."""
    real, fake = _with_blanks()
    blank = (real[:, None] == real[None]).all(-1).sum(1) > 1
    assert (pairwise_distances(real[blank], fake[(fake == real[blank][0]).all(1)]) == 0).all()
    assert (pairwise_distances(real, real).diagonal() == 0).all()


@pytest.mark.parametrize(
    ("seed", "dim", "k"), [(1, 256, 3), (1, 2048, 3), (0, 2048, 3), (1, 256, 5)]
)
def test_blank_copies_give_one_answer_whatever_the_row_order_or_dtype(
    seed: int, dim: int, k: int
) -> None:
    """With k or more identical real rows the ball radius was noise, and whether an identical
    synthetic row fell strictly inside it too, with the row order, the dtype and the number of
    BLAS threads (precision 0.30 or 0.86 on one set)."""
    real, fake = _with_blanks(seed, dim)
    expected = _values(real, fake, k)
    assert _values(real[::-1].copy(), fake, k) == pytest.approx(expected)
    assert _values(real, fake[::-1].copy(), k) == pytest.approx(expected)
    assert _values(real.astype(np.float32), fake.astype(np.float32), k) == pytest.approx(expected)
    # as with distances taken one by one: a blank lies on, not inside, a ball of radius 0
    assert expected == pytest.approx(_one_by_one(real, fake, k))


def test_distance_blocks_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """kth_neighbour_radii and the real -> synthetic distances built whole (N, N) and (N, M)
    float64 matrices, plus temporaries: 20 GB each for 50,000 synthetic images."""
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(30, 6)), rng.normal(size=(37, 6)) + 0.2
    expected = _values(real, fake, 3)
    radii = kth_neighbour_radii(fake, 3)
    rows = []

    def spy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        rows.append(len(a))
        return pairwise_distances(a, b)

    monkeypatch.setattr(prdc_module, "CHUNK", 8)
    monkeypatch.setattr(prdc_module, "pairwise_distances", spy)
    assert _values(real, fake, 3) == pytest.approx(expected)
    np.testing.assert_array_equal(kth_neighbour_radii(fake, 3), radii)
    assert rows and max(rows) <= 8

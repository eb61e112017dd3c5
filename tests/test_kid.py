"""KID: the unbiased MMD^2 matches a brute-force sum, is near 0 on two draws of one
distribution (where the biased estimator is not), and is clearly positive for a shift."""

import numpy as np
import pytest

from gaunet.metrics.kid import kernel_distance, mmd2_unbiased, subset_rows


def brute_force_mmd2(x, y):
    def k(a, b):
        return (a @ b / len(a) + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_matches_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 4)), rng.normal(size=(9, 4)) + 0.3
    assert mmd2_unbiased(x, y) == pytest.approx(brute_force_mmd2(x, y), rel=1e-10)


def test_unbiased_on_two_draws_of_one_distribution():
    rng = np.random.default_rng(1)
    estimates, biased = [], []
    for _ in range(200):
        x, y = rng.normal(size=(20, 8)), rng.normal(size=(20, 8))
        estimates.append(mmd2_unbiased(x, y))
        kxx, kyy, kxy = ((a @ b.T / 8 + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        biased.append(kxx.mean() + kyy.mean() - 2 * kxy.mean())
    standard_error = np.std(estimates) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates)) < 3 * standard_error
    assert np.mean(biased) > 10 * standard_error  # the bias the unbiased form removes


def test_kid_mean_std_and_shift():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    same = kernel_distance(a, b, subsets=50, subset_size=100)
    shifted = kernel_distance(a, b + 0.5, subsets=50, subset_size=100)
    assert same["subset_size"] == 100 and same["subsets"] == 50
    assert abs(same["mean"]) < 3 * same["std"]
    assert shifted["mean"] > 10 * max(same["std"], abs(same["mean"]))


def test_subset_size_is_half_the_smaller_set():
    rng = np.random.default_rng(3)
    result = kernel_distance(rng.normal(size=(30, 4)), rng.normal(size=(12, 4)), subsets=5)
    assert result["subset_size"] == 6
    assert subset_rows(5000, 3000) == 1000 and subset_rows(1500, 1800) == 750
    assert subset_rows(3, 3) == 2


def test_equal_small_sets_still_have_a_spread():
    """100 vs 100 images (the demo's evaluation): with subsets as large as both sets every
    subset was the whole set, and KID printed '± 0.0000'."""
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(100, 16)), rng.normal(size=(100, 16)) + 0.3
    result = kernel_distance(a, b, subsets=20)
    assert result["subset_size"] == 50
    assert result["std"] > 0.05 * abs(result["mean"])
    whole = mmd2_unbiased(a, b)
    assert abs(result["mean"] - whole) < 3 * result["std"]  # same quantity, unbiased

"""Audit: the reported statistics against independent references (scipy.stats, numpy and the
textbook formulas written out here), on the cases the other tests leave out: other sample sizes
and confidence levels, NaN pairs, pooled intervals and detectable gains, FD with n < dim and
near-singular covariances, KID's subsets, PRDC with ties and k = 1, and the bootstraps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gaunet.downstream.pooled import pooled_stat
from gaunet.downstream.stats import paired_difference, t_interval
from gaunet.metrics.bootstrap import bootstrap_mean_ci, bootstrap_reach_ci
from gaunet.metrics.frechet import frechet_distance
from gaunet.metrics.kid import kernel_distance
from gaunet.metrics.memorization import copy_audit
from gaunet.metrics.prdc import prdc_values


def _t_reference(d: np.ndarray, confidence: float) -> dict[str, float]:
    n, sd = len(d), d.std(ddof=1)
    low, high = stats.t.interval(confidence, n - 1, loc=d.mean(), scale=sd / math.sqrt(n))
    return {
        "mean": d.mean(),
        "low": low,
        "high": high,
        "p": stats.ttest_1samp(d, 0.0).pvalue,
        "mde": _power_shift(n, confidence, 0.8) * sd / math.sqrt(n),
    }


def _power_shift(n: int, confidence: float, power: float) -> float:
    """Noncentrality at which the two-sided paired t-test has `power` (both tails counted),
    by plain bisection: an independent route to the smallest detectable gain."""
    df = n - 1
    critical = stats.t.ppf(0.5 + confidence / 2, df)
    low, high = 0.0, 200.0
    for _ in range(200):
        middle = (low + high) / 2
        reach = 1.0 - stats.nct.cdf(critical, df, middle) + stats.nct.sf(critical, df, -middle)
        low, high = (middle, high) if reach < power else (low, middle)
    return (low + high) / 2


@pytest.mark.parametrize("confidence", [0.9, 0.95])
@pytest.mark.parametrize("n", [2, 3, 5, 12])
def test_paired_difference_matches_scipy(n: int, confidence: float) -> None:
    rng = np.random.default_rng(n)
    without = rng.uniform(0.6, 0.9, n)
    with_ = without + rng.normal(0.02, 0.03, n)
    result = paired_difference(with_, without, confidence)
    expected = _t_reference(with_ - without, confidence)
    assert result["n"] == n
    assert {k: result[k] for k in expected} == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert result["half"] == pytest.approx((expected["high"] - expected["low"]) / 2)


def test_nan_drops_the_pair_not_the_seed_of_one_arm() -> None:
    result = paired_difference(
        np.array([0.8, np.nan, 0.7, 0.9]), np.array([0.7, 0.6, np.nan, 0.85])
    )
    expected = _t_reference(np.array([0.1, 0.05]), 0.95)
    assert result["n"] == 2
    assert {k: result[k] for k in expected} == pytest.approx(expected)


def test_t_interval_drops_nan_and_handles_empty() -> None:
    assert t_interval(np.array([0.5, np.nan, 0.7]))["half"] == pytest.approx(
        stats.t.ppf(0.975, 1) * np.std([0.5, 0.7], ddof=1) / math.sqrt(2)
    )
    empty = t_interval(np.array([np.nan]))
    assert empty["n"] == 0 and math.isnan(empty["mean"]) and math.isnan(empty["half"])


@pytest.mark.parametrize("per_subset", [[0.01, 0.03], [0.02, -0.01, 0.04], [0.0, 0.01, 0.03, 0.02]])
def test_pooled_interval_is_the_t_interval_over_subsets(per_subset: list[float]) -> None:
    result = pooled_stat(per_subset)
    expected = _t_reference(np.asarray(per_subset), 0.95)
    assert {k: result[k] for k in expected} == pytest.approx(expected, rel=1e-9, abs=1e-12)
    if len(per_subset) == 2:  # the docstring's "with 2 subsets ... t = 12.7"
        sem = np.std(per_subset, ddof=1) / math.sqrt(2)
        assert result["half"] / sem == pytest.approx(12.706, abs=1e-3)


@pytest.mark.parametrize("per_subset", [[0.02], [0.03, 0.03, 0.03]])
def test_pooled_without_spread_claims_nothing(per_subset: list[float]) -> None:
    result = pooled_stat(per_subset)
    assert result["mean"] == pytest.approx(per_subset[0])
    assert all(math.isnan(result[k]) for k in ("low", "high", "half", "p", "mde"))


def _frechet_reference(a: np.ndarray, b: np.ndarray) -> float:
    """d^2 = |mu_a - mu_b|^2 + tr S_a + tr S_b - 2 sum sqrt(eig(S_a S_b)) (general eigvals)."""
    s_a, s_b = (np.atleast_2d(np.cov(x, rowvar=False)) for x in (a, b))
    eigen = np.linalg.eigvals(s_a @ s_b).real
    root_trace = np.sqrt(np.clip(eigen, 0, None)).sum()
    mean_term = ((a.mean(0) - b.mean(0)) ** 2).sum()
    return float(mean_term + np.trace(s_a) + np.trace(s_b) - 2 * root_trace)


@pytest.mark.parametrize(
    ("n_a", "n_b", "dim", "rank"),
    [(50, 60, 4, None), (10, 12, 16, None), (3, 4, 8, None), (100, 80, 1, None), (200, 200, 12, 3)],
)
def test_frechet_matches_eigenvalue_reference(n_a: int, n_b: int, dim: int, rank: int) -> None:
    rng = np.random.default_rng(dim)
    if rank is None:
        a, b = rng.normal(size=(n_a, dim)), 1.5 * rng.normal(size=(n_b, dim)) + 0.3
    else:  # near-singular: rank-3 data plus 1e-6 noise
        a, b = (
            rng.normal(size=(n, rank)) @ rng.normal(size=(rank, dim))
            + 1e-6 * rng.normal(size=(n, dim))
            for n in (n_a, n_b)
        )
    assert frechet_distance(a, b) == pytest.approx(_frechet_reference(a, b), rel=1e-6)


def test_kid_is_the_mean_and_std_of_textbook_mmd_over_subsets() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 5)), rng.normal(size=(30, 5)) + 0.2

    def mmd2(x: np.ndarray, y: np.ndarray) -> float:
        def k(u: np.ndarray, v: np.ndarray) -> np.ndarray:
            return (u @ v.T / x.shape[1] + 1.0) ** 3

        m = len(x)
        off = (np.ones((m, m)) - np.eye(m)).astype(bool)
        return k(x, x)[off].mean() + k(y, y)[off].mean() - 2 * k(x, y).mean()

    draws = np.random.default_rng(3)  # the same draws kernel_distance makes: 15 = 30 // 2 rows
    values = [
        mmd2(a[draws.choice(40, 15, replace=False)], b[draws.choice(30, 15, replace=False)])
        for _ in range(7)
    ]
    result = kernel_distance(a, b, subsets=7, seed=3)
    assert result["subset_size"] == 15
    assert result["mean"] == pytest.approx(np.mean(values), rel=1e-10)
    assert result["std"] == pytest.approx(np.std(values), rel=1e-10)
    same = np.ones((6, 3))
    assert kernel_distance(same, same, subsets=3)["mean"] == pytest.approx(0.0, abs=1e-12)


def _naeem(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """Naeem et al. 2020, distances by direct differences, k-NN radius excluding the point."""

    def distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))

    def radii(x: np.ndarray) -> np.ndarray:
        d = distances(x, x)
        np.fill_diagonal(d, np.inf)  # the point itself is not its own neighbour
        return np.sort(d, axis=1)[:, k - 1]

    real_fake, real_radii, fake_radii = distances(real, fake), radii(real), radii(fake)
    inside = real_fake < real_radii[:, None]
    return {
        "precision": inside.any(0).mean(),
        "recall": (real_fake < fake_radii[None, :]).any(1).mean(),
        "density": inside.sum(0).mean() / k,
        "coverage": (real_fake.min(1) < real_radii).mean(),
    }


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("grid", [False, True])
def test_prdc_matches_naeem_formulas(k: int, grid: bool) -> None:
    rng = np.random.default_rng(k)
    if grid:  # integer points: many exact ties and duplicate rows, distances exact
        real = rng.integers(0, 3, size=(30, 2)).astype(np.float64)
        fake = rng.integers(0, 3, size=(25, 2)).astype(np.float64)
    else:
        real, fake = rng.normal(size=(20, 4)), 1.2 * rng.normal(size=(15, 4)) + 0.3
    got = {name: float(v.mean()) for name, v in prdc_values(real, fake, k).items()}
    assert got == pytest.approx(_naeem(real, fake, k), abs=1e-12)


@pytest.mark.parametrize("level", [0.9, 0.95])
def test_bootstrap_mean_ci_is_the_percentile_interval(level: float) -> None:
    values = np.random.default_rng(0).normal(size=30)
    draws = np.random.default_rng(4).integers(0, 30, size=(500, 30))
    means = np.array([values[row].mean() for row in draws])
    tail = 50 * (1 - level)
    expected = np.percentile(means, [tail, 100 - tail])
    got = bootstrap_mean_ci(values, resamples=500, seed=4, level=level)
    assert got == pytest.approx(expected.tolist(), rel=1e-12)


def test_bootstrap_mean_ci_edge_cases() -> None:
    assert bootstrap_mean_ci(np.array([0.3])) is None
    assert bootstrap_mean_ci(np.full(5, 0.25)) == pytest.approx([0.25, 0.25])


def test_bootstrap_reach_ci_matches_a_loop_over_resamples() -> None:
    rng = np.random.default_rng(1)
    reaches = rng.random((40, 25)) < 0.05
    draws = np.random.default_rng(2)  # the draws of bootstrap_reach_ci, chunk by chunk
    shares = [
        reaches[:, row].any(1).mean()
        for start in range(0, 300, 70)
        for row in draws.integers(0, 25, size=(min(70, 300 - start), 25))
    ]
    observed = reaches.any(1).mean()  # spread of the resamples, centred on the observed share
    expected = np.percentile(shares, [2.5, 97.5]) - np.mean(shares) + observed
    got = bootstrap_reach_ci(reaches, resamples=300, seed=2, chunk=70)
    assert got == pytest.approx(np.clip(expected, 0, 1).tolist(), abs=1e-6)
    assert bootstrap_reach_ci(np.ones((5, 3), bool)) == [1.0, 1.0]
    assert bootstrap_reach_ci(np.ones((5, 1), bool)) is None


def test_copy_audit_scores_the_test_set_at_its_threshold_percentile() -> None:
    rng = np.random.default_rng(3)
    train, test = rng.normal(size=(60, 4)), rng.normal(size=(200, 4))
    result = copy_audit(train, test, test)  # the test images as "synthetic": 5 % by construction
    nearest = np.sqrt(((test[:, None] - train[None]) ** 2).sum(-1)).min(1)
    assert result["threshold"] == pytest.approx(np.percentile(nearest, 5))
    assert result["copy_rate"] == pytest.approx(0.05)

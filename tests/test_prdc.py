"""PRDC against a brute-force loop, and mode dropping lowers recall and coverage."""

import numpy as np
import pytest

from gaunet.metrics.prdc import prdc, prdc_values


def brute_force(real, fake, k):
    def dist(a, b):
        return float(np.sqrt(((a - b) ** 2).sum()))

    def radius(points, i):
        return sorted(dist(points[i], points[j]) for j in range(len(points)) if j != i)[k - 1]

    real_r = [radius(real, i) for i in range(len(real))]
    fake_r = [radius(fake, j) for j in range(len(fake))]
    precision = np.mean([any(dist(f, real[i]) < real_r[i] for i in range(len(real))) for f in fake])
    recall = np.mean([any(dist(r, fake[j]) < fake_r[j] for j in range(len(fake))) for r in real])
    density = (
        np.mean([sum(dist(f, real[i]) < real_r[i] for i in range(len(real))) for f in fake]) / k
    )
    coverage = np.mean([min(dist(real[i], f) for f in fake) < real_r[i] for i in range(len(real))])
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


@pytest.mark.parametrize(("seed", "k", "shift"), [(0, 3, 0.0), (1, 5, 0.7), (2, 2, 2.0)])
def test_matches_brute_force(seed, k, shift):
    rng = np.random.default_rng(seed)
    real, fake = rng.normal(size=(25, 3)), rng.normal(size=(20, 3)) * 1.3 + shift
    expected = brute_force(real, fake, k)
    got = {name: v.mean() for name, v in prdc_values(real, fake, k).items()}
    assert got == pytest.approx(expected)


def test_mode_dropping_lowers_recall_and_coverage():
    rng = np.random.default_rng(4)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    real = np.concatenate([c + rng.normal(size=(60, 2)) for c in centres])
    full = np.concatenate([c + rng.normal(size=(60, 2)) for c in centres])
    dropped = np.concatenate([c + rng.normal(size=(90, 2)) for c in centres[:2]])
    with_all, without = prdc(real, full, k=5), prdc(real, dropped, k=5)
    for metric in ("recall", "coverage"):
        assert without[metric]["value"] < with_all[metric]["value"] - 0.25
    assert without["precision"]["value"] > 0.8  # what is generated is still realistic


def test_confidence_intervals_contain_the_value():
    rng = np.random.default_rng(5)
    result = prdc(rng.normal(size=(40, 4)), rng.normal(size=(40, 4)), k=5)
    for entry in result.values():
        low, high = entry["ci95"]
        assert low <= entry["value"] <= high


def test_too_few_samples_is_an_error():
    with pytest.raises(ValueError, match="k=5"):
        prdc_values(np.zeros((5, 2)), np.zeros((10, 2)), k=5)


def test_recall_and_coverage_intervals_follow_the_synthetic_sample_size() -> None:
    """Recall and coverage are shares of the real images, but their uncertainty comes from
    which synthetic images were drawn: fewer synthetic images, a wider recall interval, the
    real reference unchanged."""
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 8))
    widths = {}
    for n in (12, 300):
        result = prdc(real, rng.normal(size=(n, 8)), resamples=400)
        for name in ("recall", "coverage"):
            low, high = result[name]["ci95"]
            assert low <= result[name]["value"] <= high
            widths[name, n] = high - low
    # 12 synthetic images reach 98 % of the real ones, but another 12 may not: resampling
    # the 400 real indicators gave a width of 0.03 here, resampling the synthetic ones 0.14
    assert widths["recall", 12] > 2 * widths["recall", 300]

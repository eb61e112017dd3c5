"""Edge cases of the metric statistics: seeds, precision, and requests that gave NaN or garbage."""

import re
from types import SimpleNamespace

import numpy as np
import pytest

from gaunet.metrics.fidelity import class_fidelity, pa_entry
from gaunet.metrics.frechet import feature_stats, frechet_from_stats
from gaunet.metrics.kid import kernel_distance
from gaunet.metrics.prdc import prdc, prdc_values


class _Classifier:
    def __init__(self, probabilities: dict[int, np.ndarray]) -> None:
        self.probabilities = probabilities

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return self.probabilities[len(images)]


def test_pa_intervals_follow_evaluates_seed() -> None:
    """evaluate(seed=S) bootstrapped every interval with S except PA's, which used 0 always."""
    rng = np.random.default_rng(0)
    synthetic_p, reference_p = rng.random((60, 2)), rng.random((40, 2))
    labels_s, labels_r = rng.integers(0, 2, 60), rng.integers(0, 2, 40)
    classifier = _Classifier({60: synthetic_p, 40: reference_p})
    inputs = SimpleNamespace(
        extractor=lambda name: classifier,
        class_names=["a", "b"],
        synthetic=SimpleNamespace(images=np.zeros((60, 1))),
        synthetic_labels=labels_s,
        reference=SimpleNamespace(images=np.zeros((40, 1)), labels=labels_r),
        seed=7,
    )
    entry = pa_entry(inputs)
    assert entry["ci95"] == class_fidelity(synthetic_p, labels_s, ["a", "b"], seed=7)["ci95"]
    reference = class_fidelity(reference_p, labels_r, ["a", "b"], seed=7)
    assert entry["real_reference_accuracy"]["ci95"] == reference["ci95"]
    assert entry["ci95"] != class_fidelity(synthetic_p, labels_s, ["a", "b"], seed=0)["ci95"]


def test_frechet_from_float32_stats_matches_float64() -> None:
    """Statistics kept as float32 (a saved reference) gave an FD off by 0.03 %."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 512)), rng.normal(size=(200, 512)) + 0.1
    (m1, s1), (m2, s2) = feature_stats(x), feature_stats(y)
    exact = frechet_from_stats(m1, s1, m2, s2)
    as32 = [v.astype(np.float32) for v in (m1, s1, m2, s2)]
    reference = frechet_from_stats(*[v.astype(np.float64) for v in as32])
    assert frechet_from_stats(*as32) == pytest.approx(reference, rel=1e-9)
    assert reference == pytest.approx(exact, rel=1e-5)


def test_kid_without_subsets_is_an_error_not_nan() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="subset"):
        kernel_distance(rng.normal(size=(20, 4)), rng.normal(size=(20, 4)), subsets=0)


def test_kid_of_flat_vectors_says_what_shape_it_needs() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        kernel_distance(rng.normal(size=20), rng.normal(size=20))


@pytest.mark.parametrize("k", [0, -1, True, 2.0])
def test_prdc_rejects_a_k_that_is_not_a_positive_whole_number(k) -> None:
    """k=0 gave NaN/inf density, k=-1 took the farthest neighbour as the radius and returned
    precision 1 with a negative density."""
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    needs = rf"whole k of at least 1, not k={re.escape(repr(k))}$"
    with pytest.raises(ValueError, match=needs):
        prdc(real, fake, k=k)
    with pytest.raises(ValueError, match=needs):
        prdc_values(real, fake, k=k)


def test_prdc_of_flat_vectors_says_what_shape_it_needs() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        prdc(rng.normal(size=20), rng.normal(size=20))


def test_prdc_accepts_numpy_integer_k() -> None:
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    assert prdc(real, fake, k=np.int64(3), resamples=10) == prdc(real, fake, k=3, resamples=10)

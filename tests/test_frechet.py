"""Frechet distance: zero for identical sets, the closed form, and monotone in degradation."""

import cv2
import numpy as np
import pytest
import scipy.linalg

from gaunet.data.phantom import make_phantom
from gaunet.metrics.frechet import feature_stats, frechet_distance, frechet_from_stats
from gaunet.metrics.memorization import pixel_features


def scipy_reference(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook formula with scipy's sqrtm (what pytorch-fid computes)."""
    mu_a, s_a = feature_stats(a)
    mu_b, s_b = feature_stats(b)
    root = scipy.linalg.sqrtm(s_a @ s_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root))


def test_identical_sets_give_zero():
    features = np.random.default_rng(0).normal(size=(200, 16))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("shift", [0.0, 0.5, 2.0])
def test_matches_scipy_sqrtm_formula(shift):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 8))
    b = rng.normal(size=(250, 8)) @ rng.normal(size=(8, 8)) * 0.5 + shift
    assert frechet_distance(a, b) == pytest.approx(scipy_reference(a, b), rel=1e-6, abs=1e-8)


def test_gaussians_closed_form():
    # N(0, I) vs N(m, 4I) in d dims: |m|^2 + d (1 + 4 - 2*2) = |m|^2 + d
    d = 5
    value = frechet_from_stats(np.zeros(d), np.eye(d), np.full(d, 2.0), 4 * np.eye(d))
    assert value == pytest.approx(4.0 * d + d)


def test_rank_deficient_covariances_stay_real_and_finite():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(10, 64)), rng.normal(size=(12, 64))  # n << d, like small classes
    value = frechet_distance(a, b)
    assert np.isfinite(value) and value > 0


def degrade(images: np.ndarray, kind: str, strength: float) -> np.ndarray:
    if strength == 0:
        return images
    if kind == "blur":
        return np.stack([cv2.GaussianBlur(im, (0, 0), strength) for im in images])
    noise = np.random.default_rng(3).normal(0, strength, images.shape)
    return np.clip(images + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("kind", "strengths"), [("blur", [0, 0.7, 1.5, 3]), ("noise", [0, 10, 25, 60])]
)
def test_grows_monotonically_with_degradation(kind, strengths):
    images, *_ = make_phantom(60, 2, size=32, seed=0)
    reference = pixel_features(images[:, None], size=16)
    values = [
        frechet_distance(reference, pixel_features(degrade(images, kind, s)[:, None], size=16))
        for s in strengths
    ]
    assert values[0] == pytest.approx(0.0, abs=1e-8)
    assert all(b > a for a, b in zip(values, values[1:])), values

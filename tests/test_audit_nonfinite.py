"""Audit: feature sets holding NaN or inf (a diverged domain classifier, an fp16 overflow) are
refused with a message that names the problem, not turned into plausible numbers: PRDC gave
precision = recall = density = coverage = 0.0, the copy audit a copy rate of 0.0 ("no copies"),
and FD a LinAlgError "Eigenvalues did not converge"."""

from __future__ import annotations

import numpy as np
import pytest

from gaunet.metrics.frechet import frechet_distance
from gaunet.metrics.kid import kernel_distance
from gaunet.metrics.memorization import copy_audit
from gaunet.metrics.prdc import prdc, prdc_values


def _sets(bad: float, where: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    (real if where == "real" else fake)[0, 0] = bad
    return real, fake


@pytest.mark.parametrize("where", ["real", "fake"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_prdc_refuses_non_finite_features(bad: float, where: str) -> None:
    real, fake = _sets(bad, where)
    with pytest.raises(ValueError, match="NaN or inf"):
        prdc_values(real, fake, k=3)
    with pytest.raises(ValueError, match="NaN or inf"):
        prdc(real, fake, k=3, resamples=10)


@pytest.mark.parametrize("where", ["real", "fake"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_frechet_and_kid_refuse_non_finite_features(bad: float, where: str) -> None:
    real, fake = _sets(bad, where)
    with pytest.raises(ValueError, match="NaN or inf"):
        frechet_distance(real, fake)
    with pytest.raises(ValueError, match="NaN or inf"):
        kernel_distance(real, fake, subsets=3)


@pytest.mark.parametrize("part", [0, 1, 2])
def test_copy_audit_refuses_non_finite_features(part: int) -> None:
    rng = np.random.default_rng(1)
    train = rng.normal(size=(30, 4))
    sets = [train, rng.normal(size=(20, 4)), train[:10].copy()]  # synthetic: 10 exact copies
    assert copy_audit(*sets)["copy_rate"] == 1.0
    sets[part] = sets[part].copy()
    sets[part][:, 0] = np.nan  # before: copy rate 0.0, as if nothing were copied
    with pytest.raises(ValueError, match="NaN or inf"):
        copy_audit(*sets)


@pytest.mark.parametrize("name, hint", [("domain", "leave domain out of --features"), ("x", "")])
def test_metric_inputs_refuse_non_finite_features_with_a_clear_message(name, hint) -> None:
    """What `gaunet evaluate` meets: a GaunetError (one line, no traceback) naming the
    extractor, the image set and how many images, before any metric reads them."""
    from gaunet.data.imageset import ImageSet
    from gaunet.errors import GaunetError
    from gaunet.metrics.features import ExtractorSettings
    from gaunet.metrics.inputs import MetricInputs

    images = np.zeros((6, 1, 8, 8), np.uint8)
    labels = np.zeros(6, np.int64)
    ids = np.array([str(i) for i in range(6)])
    real = ImageSet(images, labels, ["a"], ids, ids)
    inputs = MetricInputs(real, real, real, real, labels, ["a"], ExtractorSettings(), (name,))

    def diverged(batch: np.ndarray) -> np.ndarray:
        features = np.ones((len(batch), 4))
        features[[1, 4], 2] = np.nan
        return features

    inputs._extractors[name] = diverged  # type: ignore[assignment]
    with pytest.raises(GaunetError, match=f"the {name} features of 2 of the 6 synthetic") as error:
        inputs.features_of(name, "synthetic")
    assert hint in str(error.value)

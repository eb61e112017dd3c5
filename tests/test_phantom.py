"""The built-in phantom: deterministic, labelled, grouped in pairs, classes that differ."""

from __future__ import annotations

import numpy as np
import pytest

from gaunet.data import SourceError, load_source


def test_spec_options_and_shapes():
    data = load_source("phantom:n=6,classes=3,seed=2", size=24, channels=1)
    assert data.images.shape == (18, 1, 24, 24)
    assert data.class_names == ["round-smooth", "spiculated-irregular", "shadowed"]
    assert data.class_counts() == {"round-smooth": 6, "spiculated-irregular": 6, "shadowed": 6}
    assert len(np.unique(data.groups)) == 9  # two images per synthetic patient
    assert data.info["synthetic"] is True and data.split is None


def test_deterministic_by_seed():
    a = load_source("phantom:n=4,seed=1", size=16)
    b = load_source("phantom:n=4,seed=1", size=16)
    c = load_source("phantom:n=4,seed=2", size=16)
    assert np.array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


def test_lesion_is_darker_than_surrounding_tissue():
    """Hypoechoic lesions near the centre, as in B-mode breast ultrasound."""
    images = load_source("phantom:n=20,classes=4", size=64, channels=1).images[:, 0]
    centre = images[:, 28:36, 28:36].mean(axis=(1, 2))
    border = np.concatenate([images[:, :6].reshape(80, -1), images[:, -6:].reshape(80, -1)], 1)
    assert np.mean(centre < border.mean(axis=1)) > 0.9


@pytest.mark.parametrize("spec", ["phantom:n=1", "phantom:classes=9", "phantom:bogus=3"])
def test_bad_specs_are_clear_errors(spec):
    with pytest.raises(SourceError):
        load_source(spec, size=16)

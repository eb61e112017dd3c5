"""Domain classifier: learns the real train split, is cached by a hash of data and settings,
and its penultimate features are deterministic."""

import numpy as np
import pytest

from gaunet.data import assign_split, load_source
from gaunet.errors import GaunetError
from gaunet.metrics.features import ExtractorSettings, make_extractor
from gaunet.metrics.features.domain import DomainExtractor, DomainSettings, training_key

TINY = DomainSettings(size=16, steps=60, width=8, batch_size=32)


@pytest.fixture(autouse=True)
def cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def data():
    real = assign_split(load_source("phantom:n=40,classes=2,seed=0", size=16, channels=1))
    return real.where_split("train"), real.where_split("test")


def test_learns_the_training_classes(data):
    train, test = data
    extractor = DomainExtractor.for_training_set(train, TINY)
    accuracy = (extractor.predict_proba(test.images).argmax(1) == test.labels).mean()
    assert accuracy >= 0.75
    features = extractor(test.images)
    assert features.shape == (len(test), extractor.dim)
    assert extractor.metric_name == "FD_domain"


def test_cached_by_data_and_settings(data, cache):
    train, test = data
    first = DomainExtractor.for_training_set(train, TINY)
    second = DomainExtractor.for_training_set(train, TINY)
    assert first.info["cached"] is False and second.info["cached"] is True
    assert len(list((cache / "domain").glob("*.safetensors"))) == 1
    np.testing.assert_allclose(first(test.images), second(test.images), atol=1e-6)


def test_key_changes_with_labels_and_settings(data):
    train, _ = data
    key = training_key(train, TINY)
    flipped = train.subset(np.arange(len(train)))
    flipped.labels = 1 - flipped.labels
    assert training_key(flipped, TINY) != key
    assert training_key(train, DomainSettings(size=16, steps=60, width=8, seed=1)) != key
    assert training_key(train, TINY) == key


def test_registry_needs_the_training_split():
    with pytest.raises(GaunetError, match="the domain extractor needs the real training split"):
        make_extractor("domain", ExtractorSettings())


def test_no_home_folder_means_a_temporary_cache_not_a_crash(monkeypatch) -> None:
    """Path.home() raises with no $HOME and no passwd entry (a container's arbitrary uid)."""
    import tempfile
    from pathlib import Path

    from gaunet.metrics.features import domain

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("GAUNET_CACHE", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert domain.cache_root().parent == Path(tempfile.gettempdir())

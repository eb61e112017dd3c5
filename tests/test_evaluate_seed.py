"""evaluate(seed=S) from Python trains the domain classifier with S too, unless the caller's
ExtractorSettings names its own seed: it trained with 0 whatever S was, while the split and
the subsets used S (the command and the demo passed both, so their numbers are unchanged)."""

from __future__ import annotations

import pytest

from gaunet.data import load_source
from gaunet.metrics.evaluate import evaluate
from gaunet.metrics.features import ExtractorSettings
from gaunet.metrics.features.domain import DomainExtractor


class Trained(Exception):
    """Raised by the stand-in with the seed the domain classifier would train with."""


@pytest.mark.parametrize(("settings_seed", "expected"), [(None, 5), (3, 3)])
def test_the_domain_classifier_takes_evaluates_seed(monkeypatch, settings_seed, expected) -> None:
    def capture(train, options, device):
        raise Trained(options.seed)

    monkeypatch.setattr(DomainExtractor, "for_training_set", staticmethod(capture))
    real = load_source("phantom:n=40,classes=2,seed=0", size=16, channels=1)
    synthetic = load_source("phantom:n=10,classes=2,seed=9", size=16, channels=1)
    settings = ExtractorSettings(domain={"steps": 1}, seed=settings_seed)
    with pytest.raises(Trained) as trained:
        evaluate(real, synthetic, features=("domain",), seed=5, settings=settings)
    assert trained.value.args[0] == expected

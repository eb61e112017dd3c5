"""Small truths of `gaunet evaluate`'s output: the trust threshold's rounding, why a KID has no
spread, and which real split is used when the run's split.csv does not fit the source."""

from __future__ import annotations

import argparse

import pytest

from gaunet.cli.evaluate import kid_text, load_sets
from gaunet.errors import GaunetError
from gaunet.metrics.domain_trust import domain_classifier_check
from gaunet.metrics.report import _fmt


def test_an_accuracy_at_the_threshold_is_trusted() -> None:
    """0.8 + 0.05 is 0.8500000000000001 in floating point: 17 of 20 right was untrusted."""
    check = domain_classifier_check(17 / 20, {"a": 16, "b": 4}, 2)
    assert check["trust_threshold"] == pytest.approx(0.85) and check["trusted"]
    assert not domain_classifier_check(16 / 20, {"a": 16, "b": 4}, 2)["trusted"]


@pytest.mark.parametrize(
    ("kid", "said"),
    [
        ({"mean": 0.01, "std": 0.0, "subsets": 1, "subset_size": 20}, "one subset"),
        ({"mean": 0.01, "std": 0.0, "subsets": 50, "subset_size": 2}, "too few images"),
    ],
)
def test_why_a_kid_has_no_spread(kid: dict, said: str) -> None:
    assert said in kid_text(kid) and said in _fmt(kid)


@pytest.mark.parametrize(("source", "said"), [("breastmnist", "the source's own kept"),
                                               ("phantom:n=6", "assigned with --seed 3")])  # fmt: skip
def test_the_real_split_said_is_the_one_used(source, said, tmp_path, monkeypatch, capsys) -> None:
    from gaunet.data import ImageSet

    def unfitting(real: ImageSet, run: object) -> None:
        raise GaunetError("split.csv lists other images")

    monkeypatch.setattr("gaunet.data.splits.generator_split", unfitting)
    if source == "breastmnist":
        from pathlib import Path

        source = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "breastmnist.npz")
        if not Path(source).is_file():
            pytest.skip("../shared/data/breastmnist.npz is absent")
    args = argparse.Namespace(
        run=tmp_path, size=16, channels=1, real=source, synthetic="phantom:n=6", seed=3,
        figures=None, json=None, report=None,
    )  # fmt: skip
    monkeypatch.setattr("gaunet.cli.evaluate.run_settings", lambda run: {})
    load_sets(args)
    assert f"not the run's (split.csv lists other images); {said}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("features", "missing", "expected"),
    [
        (("domain", "inception", "efficientnet"), {"inception": "no weights"}, "efficientnet"),
        (("domain", "inception"), {}, "inception"),
        (("domain",), {}, None),
    ],
)
def test_one_real_class_audits_copies_in_the_first_available_space(
    features, missing, expected
) -> None:
    """With one real class there is no domain classifier; the copy audit was pinned to the
    first other extractor named, and fell back to pixels alone when that one was missing."""
    import numpy as np

    from gaunet.data import ImageSet
    from gaunet.metrics.features import ExtractorSettings
    from gaunet.metrics.inputs import MetricInputs

    ids = np.asarray(["0", "1"])
    images = ImageSet(np.zeros((2, 1, 8, 8), np.uint8), np.zeros(2, np.int64), ["a"], ids, ids)
    inputs = MetricInputs(
        train=images, test=images, reference=images, synthetic=images,
        synthetic_labels=np.zeros(2, np.int64), class_names=["a"],
        settings=ExtractorSettings(), features=features,
        unavailable={"domain": "one real class", **missing},
    )  # fmt: skip
    inputs._extractors.update({name: object() for name in features if name != "domain"})
    for name in missing:
        inputs._extractors.pop(name)
    assert inputs.audit_space() == expected

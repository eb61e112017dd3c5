"""The copy audit's threshold (`gaunet evaluate`'s copy rate) must not collapse to 0 when
(almost) every real test image is a training image: the training images set it instead, as
for `gaunet generate --max-copy-rate`, and the audit says which rule set it."""

from __future__ import annotations

import numpy as np

from gaunet.data import ImageSet
from gaunet.metrics.features import ExtractorSettings
from gaunet.metrics.inputs import MetricInputs
from gaunet.metrics.memorization import memorization_entry
from gaunet.privacy import CopyFilter


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (n, 1, 16, 16), dtype=np.uint8)


def _inputs(train: np.ndarray, test: np.ndarray, copies: int = 20) -> MetricInputs:
    n, m = len(train), len(test)
    data = ImageSet(
        images=np.concatenate([train, test]),
        labels=np.arange(n + m) % 2,
        class_names=["a", "b"],
        groups=np.asarray([f"g{i}" for i in range(n + m)]),
        ids=np.asarray([f"i{i}" for i in range(n + m)]),
        split=np.asarray(["train"] * n + ["test"] * m),
    )
    return MetricInputs(
        train=data.where_split("train"),
        test=data.where_split("test"),
        reference=data.where_split("test"),
        synthetic=data.where_split("train").subset(np.arange(5, 5 + copies)),  # exact copies
        synthetic_labels=np.arange(copies) % 2,
        class_names=["a", "b"],
        settings=ExtractorSettings(),
        features=(),
    )


def test_a_test_split_of_training_images_falls_back_to_leave_one_out() -> None:
    """4 of the 5 test images are training images: the one left was too few, so all 5 set
    the threshold (about 0) and a generator returning its training images scored 0.15."""
    train = _images(40, 0)
    test = np.concatenate([train[:4], _images(1, 1)])
    audit = memorization_entry(_inputs(train, test))["pixel"]
    assert audit["threshold"] > 0.01
    assert audit["copy_rate"] == 1.0
    assert audit["test_identical_to_train"] == 4
    assert "train -> other train images, leave-one-out (n=40)" in audit["threshold_rule"]
    assert audit["threshold_note"].startswith("4 of the 5 real test images are training images")
    # one rule for the audit and the export filter: the same threshold in pixel space
    assert audit["threshold"] == CopyFilter(train, 0.0, reference=test).threshold


def test_blank_training_frames_are_left_out_of_the_fallback() -> None:
    """Blank (one-value) training frames sit at distance 0 from each other: left in, three of
    them made the leave-one-out 5th percentile 0 as well."""
    train = _images(40, 0)
    train[:3] = 0
    test = train[10:13].copy()  # every test image is a training image
    audit = memorization_entry(_inputs(train, test))["pixel"]
    assert audit["threshold"] > 0.01 and audit["copy_rate"] == 1.0
    assert "3 training images with an identical twin left out" in audit["threshold_rule"]
    assert audit["threshold_from"]["min"] > 0


def test_a_normal_test_split_still_sets_the_threshold_and_says_so() -> None:
    train, test = _images(40, 0), _images(20, 1)
    test[0] = train[0]
    audit = memorization_entry(_inputs(train, test))["pixel"]
    assert audit["threshold_rule"] == (
        "5th percentile of real test -> train (n=19); "
        "1 real test images identical to a training image left out"
    )
    assert audit["threshold_note"] == "" and audit["copy_rate"] == 1.0


def test_the_html_report_names_the_rule() -> None:
    from gaunet.metrics.report import _memorization_section

    train = _images(40, 0)
    audit = memorization_entry(_inputs(train, train[:3].copy()))
    html = "\n".join(_memorization_section(audit, ""))
    assert "pixel threshold: 5th percentile of train -&gt; other train images" in html
    assert "so the threshold comes from the training images instead" in html

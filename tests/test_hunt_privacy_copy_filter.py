"""The copy filter's threshold must not collapse to 0 (which lets every copy through)."""

from __future__ import annotations

import numpy as np

from gaunet.privacy import CopyFilter


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (n, 1, 16, 16), dtype=np.uint8)


def test_blank_training_frames_do_not_pull_the_leave_one_out_threshold_to_zero():
    """Three all-black frames sit at distance 0 from each other: left in, they made the
    5th percentile 0, and exact copies of training images were not near-copies."""
    train = _images(40, 0)
    train[:3] = 0
    copy_filter = CopyFilter(train=train, max_rate=0.0)
    assert copy_filter.threshold > 0
    assert "3 training images with an identical twin left out" in copy_filter.rule
    assert copy_filter.near_copies(train[5:10].copy()).all()
    assert copy_filter.near_copies(_images(20, 1)).mean() < 0.5  # fresh images: about 5 %


def test_a_test_split_of_training_images_falls_back_to_leave_one_out():
    """A held-out split with fewer than 2 images that are not training images gave a
    threshold of 0 (its distances are 0): the training images set it instead, and the
    report says why."""
    train = _images(40, 0)
    reference = np.concatenate([train[:2], _images(1, 2)])
    copy_filter = CopyFilter(train=train, max_rate=0.0, reference=reference)
    assert copy_filter.threshold > 0
    assert copy_filter.rule.startswith("train -> other train images")
    assert "2 of the 3 real test images are training images" in copy_filter.reference_note
    assert copy_filter.near_copies(train[5:10].copy()).all()
    report = copy_filter.report({})
    assert "training images instead" in report["note"]

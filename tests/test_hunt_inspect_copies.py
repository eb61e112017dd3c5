"""`data inspect`'s copies line: blank images, and sets crossing val and test only."""

from __future__ import annotations

import numpy as np

from gaunet.data import ImageSet
from gaunet.data.inspect import format_report, summarize


def _set(images: np.ndarray, split: list[str] | None, labels: list[int]) -> ImageSet:
    n = len(images)
    return ImageSet(
        images=images,
        labels=np.asarray(labels),
        class_names=["a", "b"],
        groups=np.asarray([f"g{i}" for i in range(n)]),
        ids=np.asarray([f"i{i}" for i in range(n)]),
        split=None if split is None else np.asarray(split),
    )


def _distinct(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 1, 8, 8), dtype=np.uint8)


def test_blank_images_are_not_reported_as_no_identical_images():
    images = _distinct(12)
    images[[1, 4, 7]] = 0  # three identical black frames, never counted as copies
    summary = summarize(_set(images, None, [i % 2 for i in range(12)]))
    assert summary["duplicates"]["sets"] == 0
    assert summary["blank_images"] == 3
    text = format_report(summary)
    assert "copies   no two images are identical (not counting 3 blank images of one value)" in text


def test_a_set_in_val_and_test_only_is_not_called_a_training_image():
    images = _distinct(6)
    images[5] = images[4]
    split = ["train", "train", "train", "train", "val", "test"]
    text = format_report(summarize(_set(images, split, [0, 1, 0, 1, 0, 0])))
    assert "1 of them span the official splits" in text
    assert "identical to a training image is tested on what was learnt" not in text
    assert "an image in both val and test is tested on what chose the model" in text


def test_help_says_inspect_lists_identical_images(capsys):
    """README: `data inspect` reports the sets of identical images; --help did not say so."""
    import pytest

    from gaunet.cli import main

    with pytest.raises(SystemExit):
        main(["data", "inspect", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "sets of identical images" in out

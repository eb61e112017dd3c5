"""The demo report's data section: what it says of identical images found by the inspection."""

from __future__ import annotations

import pytest

from gaunet.demo.report import _copies


def _summary(split: str, sets: int, across: int, conflicting: int) -> dict:
    pair = [{"file": "a.png", "class": "x", "split": "train"}] * 2
    return {
        "split": split,
        "duplicates": {
            "sets": sets,
            "images": 2 * sets,
            "across_splits": [pair] * across,
            "conflicting_classes": [pair] * conflicting,
        },
    }


@pytest.mark.parametrize(
    ("summary", "expected", "absent"),
    [
        ({"split": "official"}, "", None),  # a summary written before copies were looked for
        (_summary("official", 0, 0, 0), "", None),
        (_summary("official", 27, 8, 0), "27 set(s) of identical images (54 images), 8 of them "
         "across the official splits (", "two classes"),
        (_summary("assigned (grouped stratified 7:1:2, seed 0)", 1, 0, 1), "each kept within "
         "one split; <b>1 hold one image under two classes</b>", "official"),
    ],
)  # fmt: skip
def test_identical_images_are_reported_when_found(summary, expected, absent) -> None:
    text = _copies(summary)
    assert expected in text and (expected or text == "")
    assert absent is None or absent not in text

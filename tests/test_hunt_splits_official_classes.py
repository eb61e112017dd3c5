"""A folder (benchmark, demo) saved on a source with an official split is refused when the
source's classes changed since, as one with an assigned split already was."""

from __future__ import annotations

import numpy as np
import pytest

from gaunet.data import ImageSet, SourceError, write_split
from gaunet.data.splits import folder_split

SPLIT = ["train"] * 7 + ["val"] + ["test"] * 2


def _official(labels) -> ImageSet:
    n = len(labels)
    return ImageSet(
        images=np.zeros((n, 1, 4, 4), np.uint8),
        labels=np.asarray(labels, np.int64),
        class_names=["benign", "malignant"],
        groups=np.asarray([f"g{i}" for i in range(n)]),
        ids=np.asarray([f"img-{i}" for i in range(n)]),
        split=np.asarray(SPLIT),
    )


def test_relabelled_source_with_its_own_split_is_refused(tmp_path):
    saved = tmp_path / "bench" / "split.csv"
    write_split(saved, _official([0, 1] * 5))
    same = folder_split(_official([0, 1] * 5), saved)  # unchanged: resumed as it is
    assert list(same.split) == SPLIT
    relabelled = _official([0, 1] * 5)
    relabelled.labels[3] = 0  # a label corrected in a manifest with a split column
    with pytest.raises(SourceError, match=r"1 images have another class there.*img-3"):
        folder_split(relabelled, saved)
    moved = _official([0, 1] * 5)  # another split of the same classes: refused as before
    moved.split[0] = "test"
    with pytest.raises(SourceError, match="its own split differs from split.csv"):
        folder_split(moved, saved)

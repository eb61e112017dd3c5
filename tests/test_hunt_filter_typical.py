"""The typical-copies control (filter_choices.typical_rows) adds as many images per class as
the generator arm it controls, also with --synthetic-ratio above --filter-pool."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gaunet.data import ImageSet, assign_split, load_source
from gaunet.downstream.arms import per_class_targets
from gaunet.downstream.filter_choices import typical_rows
from gaunet.downstream.generator_arms import GeneratorArms


def _subset() -> ImageSet:
    return assign_split(load_source("phantom:n=24", size=16, channels=1), seed=0).where_split(
        "train"
    )


def _scorer_fn(train: ImageSet):
    """p(class 1) rises with the image's row number: the later rows are the surest of it."""

    def score(images: np.ndarray) -> np.ndarray:
        p = np.linspace(0.1, 0.9, len(images))
        return np.stack([1 - p, p], 1)

    return score


def test_typical_copies_give_the_wanted_count_at_a_ratio_above_the_pool(tmp_path: Path) -> None:
    """--synthetic-ratio 3 --filter-pool 2: the gaunet arm adds 3 x n_c images per class; its
    control added only 2 x n_c (the K copies of each real image, all kept)."""
    subset = _subset()
    helper = GeneratorArms(tmp_path, filter_pool=2, ratio=3.0, scorer_fn=_scorer_fn)
    images, labels = helper.typical_copies(0.5, subset)
    wanted = per_class_targets(subset.labels, subset.num_classes, 3.0)
    np.testing.assert_array_equal(np.bincount(labels, minlength=2), wanted)
    assert len(images) == wanted.sum()
    # class 1's images are kept by confidence: the surest (latest rows) most often
    ones = np.flatnonzero(subset.labels == 1)
    record = json.loads(next((tmp_path / "synthetic").glob("typical-copies-*.json")).read_text())
    kept = np.asarray(record["kept_rows"])
    kept_ones = kept[subset.labels[kept] == 1]
    assert kept_ones.max() == ones.max()
    assert np.sum(kept_ones == ones.max()) >= np.sum(kept_ones == ones.min())


def test_a_short_record_is_chosen_again(tmp_path: Path) -> None:
    """A record written before the fix (fewer rows than wanted) is not read back."""
    subset = _subset()
    wanted = per_class_targets(subset.labels, subset.num_classes, 3.0)
    record = tmp_path / "typical.json"
    short = typical_rows(record, subset, wanted, 2, lambda: _scorer_fn(subset))
    saved = json.loads(record.read_text())
    saved["kept_rows"] = saved["kept_rows"][: len(short) // 2]
    record.write_text(json.dumps(saved))
    again = typical_rows(record, subset, wanted, 2, lambda: _scorer_fn(subset))
    np.testing.assert_array_equal(np.bincount(subset.labels[again], minlength=2), wanted)

"""Identical images: found exactly, kept in one split when gaunet assigns it, listed by
`data inspect` when an official split or two classes separate them, and kept out of the copy
audit's threshold."""

from __future__ import annotations

import numpy as np
import pytest

from gaunet.data import ImageSet, assign_split
from gaunet.data.duplicates import (
    DuplicateReport,
    duplicate_sets,
    identical_to_any,
    split_groups,
)
from gaunet.data.inspect import format_report, summarize


def _distinct(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 1, 8, 8), dtype=np.uint8)


@pytest.mark.parametrize(
    "copies, expected",
    [
        ({}, []),
        ({5: 1}, [[1, 5]]),
        ({5: 1, 7: 1, 9: 3}, [[1, 5, 7], [3, 9]]),
    ],
)
def test_duplicate_sets_are_the_identical_images(copies: dict, expected: list) -> None:
    images = _distinct(10)
    for row, original in copies.items():
        images[row] = images[original]
    assert [rows.tolist() for rows in duplicate_sets(images)] == expected


def test_one_pixel_apart_or_one_value_is_not_a_duplicate() -> None:
    images = _distinct(6)
    images[1] = images[0]
    images[1, 0, 3, 3] ^= 1  # one pixel differs
    images[2:5] = 0  # blank images of (say) three patients
    assert duplicate_sets(images) == []


def test_identical_to_any_compares_pixels() -> None:
    reference = _distinct(5)
    queries = np.concatenate([reference[[3, 0]], _distinct(2, seed=1)])
    assert identical_to_any(queries, reference).tolist() == [True, True, False, False]


def test_split_groups_joins_groups_through_chains_of_copies() -> None:
    images = _distinct(8)
    groups = np.asarray(["a", "b", "b", "c", "d", "e", "e", "f"])
    images[3] = images[0]  # c joins a
    images[5] = images[2]  # e joins b
    images[6] = images[7]  # f joins e, so b
    joined = split_groups(groups, duplicate_sets(images))
    assert joined.tolist() == ["a", "b", "b", "a", "d", "b", "b", "b"]
    assert split_groups(groups, duplicate_sets(_distinct(8))).tolist() == groups.tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_assigned_split_keeps_every_copy_in_one_split(seed: int) -> None:
    n = 120
    images = _distinct(n, seed)
    rng = np.random.default_rng(seed + 10)
    for row in rng.choice(np.arange(1, n), 30, replace=False):  # 30 copies of earlier images
        images[row] = images[rng.integers(0, row)]
    data = ImageSet(
        images=images,
        labels=np.arange(n) % 2,
        class_names=["a", "b"],
        groups=np.asarray([f"g{i}" for i in range(n)]),
        ids=np.asarray([f"i{i}" for i in range(n)]),
    )
    split = assign_split(data, seed=seed).split
    sets = duplicate_sets(images)
    assert sets and all(len(set(split[rows])) == 1 for rows in sets)
    assert set(split) == {"train", "val", "test"}
    assert data.groups.tolist() == [f"g{i}" for i in range(n)]  # the source's groups kept


def _official(images: np.ndarray, labels: list[int], split: list[str]) -> ImageSet:
    n = len(images)
    return ImageSet(
        images=images,
        labels=np.asarray(labels),
        class_names=["malignant", "benign"],
        groups=np.asarray([f"g{i}" for i in range(n)]),
        ids=np.asarray([f"{part}/{i:03d}" for i, part in enumerate(split)]),
        split=np.asarray(split),
        source="test.npz",
    )


def test_inspect_lists_copies_across_official_splits_and_under_two_classes() -> None:
    images = _distinct(6)
    images[4] = images[0]  # train and test, same class
    images[5] = images[1]  # train and test, two classes
    data = _official(images, [0, 0, 1, 1, 0, 1], ["train"] * 4 + ["test"] * 2)
    summary = summarize(data)
    found = summary["duplicates"]
    assert (found["sets"], found["images"]) == (2, 4)
    assert [[r["file"] for r in rows] for rows in found["across_splits"]] == [
        ["train/000", "test/004"],
        ["train/001", "test/005"],
    ]
    assert found["conflicting_classes"] == [
        [
            {"file": "train/001", "class": "malignant", "split": "train"},
            {"file": "test/005", "class": "benign", "split": "test"},
        ]
    ]
    text = format_report(summary)
    assert "2 set(s) of identical images (4): 2 of them span the official splits" in text
    assert "WARNING 1 set(s) hold one image under two classes" in text
    assert "train/001 (malignant, train) = test/005 (benign, test)" in text


def test_inspect_says_when_there_are_no_copies() -> None:
    summary = summarize(_official(_distinct(4), [0, 1, 0, 1], ["train", "train", "val", "test"]))
    assert summary["duplicates"] == {
        "sets": 0,
        "images": 0,
        "across_splits": [],
        "conflicting_classes": [],
    }
    assert "copies   no two images are identical" in format_report(summary)


def test_report_counts() -> None:
    images = _distinct(5)
    images[3] = images[2]
    report = DuplicateReport.of(duplicate_sets(images), np.zeros(5, int), np.asarray(["train"] * 5))
    assert report.images == 2 and report.across_splits == [] and report.conflicting == []


def test_the_copy_audit_threshold_ignores_test_images_that_are_training_images() -> None:
    """A source whose test split repeats a third of its training images: those test images sit
    at distance 0 and would make the threshold 0, so that no copy could ever be found."""
    from gaunet.metrics.features import ExtractorSettings
    from gaunet.metrics.inputs import MetricInputs
    from gaunet.metrics.memorization import memorization_entry

    images = _distinct(90)
    train, test = images[:60], images[60:].copy()
    test[:10] = train[:10]  # a third of the test split duplicates training images
    data = ImageSet(
        images=np.concatenate([train, test]),
        labels=np.arange(90) % 2,
        class_names=["a", "b"],
        groups=np.asarray([f"g{i}" for i in range(90)]),
        ids=np.asarray([f"i{i}" for i in range(90)]),
        split=np.asarray(["train"] * 60 + ["test"] * 30),
    )
    inputs = MetricInputs(
        train=data.where_split("train"),
        test=data.where_split("test"),
        reference=data.where_split("test"),
        synthetic=data.where_split("train").subset(np.arange(20)),  # 20 copies
        synthetic_labels=np.arange(20) % 2,
        class_names=["a", "b"],
        settings=ExtractorSettings(),
        features=(),
    )
    audit = memorization_entry(inputs)["pixel"]
    assert audit["test_identical_to_train"] == 10
    assert audit["threshold"] > 0 and audit["copy_rate"] == 1.0


def test_a_split_that_already_keeps_the_copies_together_is_kept() -> None:
    """Runs made before copies were looked for keep their split where no copy was cut."""
    from gaunet.data import make_split

    n = 60
    images, labels = _distinct(n), np.arange(n) % 2
    groups = np.asarray([f"g{i}" for i in range(n)])
    before = make_split(labels, groups, seed=0)
    together = np.flatnonzero(before == "test")[:2]
    images[together[1]] = images[together[0]]
    data = ImageSet(images, labels, ["a", "b"], groups, groups.copy())
    assert assign_split(data, seed=0).split.tolist() == before.tolist()
    apart = [np.flatnonzero(before == "train")[0], np.flatnonzero(before == "test")[0]]
    images[apart[1]] = images[apart[0]]
    split = assign_split(ImageSet(images, labels, ["a", "b"], groups, groups.copy())).split
    assert split[apart[0]] == split[apart[1]] and split.tolist() != before.tolist()

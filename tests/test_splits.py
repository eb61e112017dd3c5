"""Grouped stratified 7:1:2 splits: no group crosses splits, reproducible, saved and reused."""

from __future__ import annotations

import numpy as np
import pytest

from gaunet.data import ImageSet, apply_split, assign_split, make_split, read_split, write_split


def _groups_and_labels(n_groups=120, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, n_groups)
    groups = np.repeat([f"patient-{g}" for g in range(n_groups)], sizes)
    per_group_label = (rng.uniform(size=n_groups) < 0.3).astype(np.int64)
    labels = np.repeat(per_group_label, sizes)
    return labels, groups


def _imageset(labels, groups):
    n = len(labels)
    return ImageSet(
        images=np.zeros((n, 1, 8, 8), np.uint8),
        labels=labels,
        class_names=["a", "b"],
        groups=groups,
        ids=np.asarray([f"img-{i}" for i in range(n)]),
    )


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_no_group_in_two_splits(seed):
    labels, groups = _groups_and_labels(seed=seed)
    split = make_split(labels, groups, seed=seed)
    for group in np.unique(groups):
        assert len(set(split[groups == group])) == 1


def test_ratios_and_stratification():
    labels, groups = _groups_and_labels(n_groups=400)
    split = make_split(labels, groups, seed=0)
    for cls in (0, 1):
        members = split[labels == cls]
        fractions = [np.mean(members == s) for s in ("train", "val", "test")]
        assert fractions == pytest.approx([0.7, 0.1, 0.2], abs=0.03)


def test_reproducible_by_seed_and_seed_matters():
    labels, groups = _groups_and_labels()
    assert np.array_equal(make_split(labels, groups, 3), make_split(labels, groups, 3))
    assert not np.array_equal(make_split(labels, groups, 3), make_split(labels, groups, 4))


def test_small_class_reaches_every_split():
    labels = np.asarray([0] * 50 + [1] * 10)
    groups = np.asarray([str(i) for i in range(60)])
    split = make_split(labels, groups, seed=0)
    assert set(split[labels == 1]) == {"train", "val", "test"}


def test_official_split_wins():
    labels, groups = _groups_and_labels(n_groups=10)
    data = _imageset(labels, groups)
    data.split = np.asarray(["test"] * len(labels))
    assert set(assign_split(data, seed=0).split) == {"test"}


def test_written_split_is_reused_and_changes_are_caught(tmp_path):
    labels, groups = _groups_and_labels(n_groups=30)
    data = assign_split(_imageset(labels, groups), seed=5)
    write_split(tmp_path / "run" / "split.csv", data)
    assert read_split(tmp_path / "run" / "split.csv") == dict(zip(data.ids, data.split))
    fresh = _imageset(labels, groups)
    assert np.array_equal(apply_split(fresh, tmp_path / "run" / "split.csv").split, data.split)
    grown = _imageset(np.append(labels, 0), np.append(groups, "new"))
    with pytest.raises(ValueError, match="not in the saved split"):
        apply_split(grown, tmp_path / "run" / "split.csv")


def test_a_split_write_that_fails_part_way_leaves_the_saved_split(tmp_path):
    """A resume trusts split.csv: a write stopped mid-file must not leave half of it."""
    labels, groups = _groups_and_labels(n_groups=30)
    data = assign_split(_imageset(labels, groups), seed=5)
    path = tmp_path / "split.csv"
    write_split(path, data)
    saved = path.read_bytes()
    broken = assign_split(_imageset(labels, groups), seed=6)
    broken.labels = broken.labels.copy()
    broken.labels[len(labels) // 2] = 99  # no such class: the write stops half-way
    with pytest.raises(IndexError):
        write_split(path, broken)
    assert path.read_bytes() == saved


def test_load_source_split_from_a_run_gives_the_generators_split(tmp_path):
    """A classifier trained on load_source(..., split_from=RUN) sees the generator's training
    rows; a source that is not the run's is refused with what differs."""
    from train_helpers import PHANTOM, tiny_train

    import gaunet
    from gaunet.data import SourceError
    from gaunet.training.run_folder import TRAIN_IMAGES, load_train_images

    run = tiny_train(tmp_path / "run", steps=2, seed=3)
    data = gaunet.load_source(PHANTOM, size=16, channels=1, split_from=run)
    trained = load_train_images(run / TRAIN_IMAGES)
    train = data.where_split("train")
    assert list(train.ids) == list(trained.ids) and np.array_equal(train.labels, trained.labels)
    assert np.array_equal(train.images, trained.images)
    assert dict(zip(data.ids, data.split)) == read_split(run / "split.csv")
    assert set(data.split) == {"train", "val", "test"}
    # any size, and the split.csv itself, give the same rows
    again = gaunet.load_source(PHANTOM, size=24, channels=3, split_from=run / "split.csv")
    assert np.array_equal(again.split, data.split)
    # seed 3's split is not the one load_source would make by itself
    assert not np.array_equal(assign_split(gaunet.load_source(PHANTOM, 16, 1)).split, data.split)
    with pytest.raises(SourceError, match="does not match the split of .*are not in the run"):
        gaunet.load_source("phantom:n=16,classes=2", size=16, channels=1, split_from=run)
    with pytest.raises(SourceError, match="no split.csv"):
        gaunet.load_source(PHANTOM, size=16, channels=1, split_from=tmp_path)


def test_split_from_refuses_a_source_with_other_classes(tmp_path):
    from gaunet.data import SourceError
    from gaunet.data.splits import apply_run_split

    labels, groups = _groups_and_labels(n_groups=10)
    data = assign_split(_imageset(labels, groups), seed=0)
    write_split(tmp_path / "split.csv", data)
    swapped = _imageset(1 - labels, groups)
    with pytest.raises(SourceError, match="another class"):
        apply_run_split(swapped, tmp_path)


def test_grouping_note_does_not_promise_patients_without_patient_ids():
    from gaunet.data.splits import grouping_note

    labels, groups = _groups_and_labels(n_groups=20)
    assert "No group" in grouping_note(_imageset(labels, groups))
    alone = _imageset(labels, np.asarray([f"img-{i}" for i in range(len(labels))]))
    note = grouping_note(alone)
    assert "its own group" in note and "cannot be ruled out" in note and "No group" not in note


def _with_copies(n: int = 60) -> ImageSet:
    """`n` distinct images, each its own group, with image 1 stored again as image 0."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (n, 1, 8, 8), dtype=np.uint8)
    images[0] = images[1]
    labels = np.arange(n) % 2
    labels[0] = labels[1]
    data = _imageset(labels, np.asarray([f"g{i}" for i in range(n)]))
    data.images = images
    return data


def test_a_folder_keeps_the_split_it_saved(tmp_path, capsys):
    from gaunet.data.splits import folder_split

    saved = tmp_path / "split.csv"
    fresh = folder_split(_with_copies(), saved, seed=0)  # nothing saved: assign_split
    assert np.array_equal(fresh.split, assign_split(_with_copies(), seed=0).split)
    assert fresh.split[0] == fresh.split[1]
    old = _with_copies()  # as a folder made before copies were kept together might hold it
    old.split = fresh.split.copy()
    old.split[0], old.split[2] = ("test" if fresh.split[1] != "test" else "train"), "val"
    write_split(saved, old)
    resumed = folder_split(_with_copies(), saved, seed=0)
    assert np.array_equal(resumed.split, old.split)
    note = capsys.readouterr().err
    assert "1 set of identical images in two splits" in note and str(saved) in note
    write_split(saved, fresh)
    assert np.array_equal(folder_split(_with_copies(), saved, seed=5).split, fresh.split)
    assert capsys.readouterr().err == ""  # the saved split keeps the copies together


def test_a_folder_refuses_a_changed_source(tmp_path):
    from gaunet.data import SourceError
    from gaunet.data.splits import folder_split

    saved = tmp_path / "bench" / "split.csv"
    write_split(saved, assign_split(_with_copies(60), seed=0))
    with pytest.raises(SourceError, match=r"bench was made on another version.*not in it"):
        folder_split(_with_copies(50), saved)
    other = _with_copies(60)
    other.labels = 1 - other.labels
    with pytest.raises(SourceError, match="another class"):
        folder_split(other, saved)
    official = _with_copies(50)  # an official split is the source's own: used as it is,
    official.split = np.full(50, "train")
    fresh = tmp_path / "fresh" / "split.csv"
    assert set(folder_split(official, fresh).split) == {"train"}
    write_split(fresh, official)
    assert set(folder_split(official, fresh).split) == {"train"}
    # but a folder made on another official split (a prepared set redone with another seed)
    # is refused: its finished work used the saved one
    official.split[:5] = "test"
    with pytest.raises(SourceError, match="its own split differs from split.csv"):
        folder_split(official, fresh)


@pytest.mark.parametrize(
    "split, groups, expected",
    [
        # an anonymised export: every file one PatientID, so every image in train
        (
            ["train"] * 40,
            ["ANON"] * 40,
            "val and test got no image because the 40 images belong to only 1 group",
        ),
        (["train"] * 30 + ["test"] * 10, ["p1"] * 30 + ["p2"] * 10, "val got no image because"),
        (["train"] * 4, ["a", "b", "c", "d"], "val and test got no image: 4 images are too few"),
        (["train"] * 7 + ["val"] + ["test"] * 2, [str(i) for i in range(10)], ""),  # nothing empty
        (["train"] * 40, [str(i % 8) for i in range(40)], ""),  # enough groups: another cause
    ],
)
def test_empty_split_cause_names_too_few_groups(split, groups, expected):
    """`data inspect`, `benchmark` and `evaluate` only said val or test was empty; a grouped
    split of one shared patient id cannot be anything else, and the user is told why."""
    from gaunet.data.splits import empty_split_cause

    cause = empty_split_cause(np.asarray(split), np.asarray(groups))
    assert cause.startswith(expected) if expected else cause == ""

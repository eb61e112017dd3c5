"""CSV manifests: label rules, groups, official split, folder-with-manifest, unlisted files."""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import clear_ids, partition, write_csv, write_image

from gaunet.data import load_source


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def _images(root, names):
    for i, name in enumerate(names):
        write_image(root / name, seed=i)


def test_string_labels_sorted_and_patient_groups(tmp_path):
    _images(tmp_path / "img", ["a 1.png", "b (2).png", "c.png", "d.png"])
    csv = write_csv(
        tmp_path / "labels.csv",
        ["path", "label", "patient_id"],
        [
            ["img/a 1.png", "tumour", "p1"],
            ["img/b (2).png", "normal", "p1"],
            ["img/c.png", "tumour", "p2"],
            ["img/d.png", "normal", "p3"],
        ],
    )
    data = load_source(csv, size=16)
    assert data.class_names == ["normal", "tumour"]
    assert list(data.labels) == [1, 0, 1, 0]
    assert partition(data.groups) == partition(["p1", "p1", "p2", "p3"])
    assert not {"p1", "p2", "p3"} & set(data.groups)  # patient ids never in clear
    assert clear_ids(csv, data) == ["img/a 1.png", "img/b (2).png", "img/c.png", "img/d.png"]
    assert data.info["kind"] == "manifest"


def test_integer_labels_keep_order_with_class_column(tmp_path):
    """A generated folder: label 0 is 'zebra' even though 'apple' sorts first."""
    _images(tmp_path / "gen", ["zebra/0.png", "zebra/1.png", "apple/0.png", "apple/1.png"])
    write_csv(
        tmp_path / "gen" / "manifest.csv",
        ["path", "label", "class", "source_id", "seed", "checkpoint_sha256"],
        [
            ["zebra/0.png", 0, "zebra", "x", 1, "ab"],
            ["zebra/1.png", 0, "zebra", "y", 1, "ab"],
            ["apple/0.png", 1, "apple", "z", 1, "ab"],
            ["apple/1.png", 1, "apple", "w", 1, "ab"],
        ],
    )
    data = load_source(tmp_path / "gen", size=16)
    assert data.class_names == ["zebra", "apple"]
    assert list(data.labels) == [0, 0, 1, 1]
    assert data.source == str(tmp_path / "gen")


def test_integer_labels_without_class_column_name_indices(tmp_path):
    _images(tmp_path, ["a.png", "b.png", "c.png"])
    csv = write_csv(
        tmp_path / "m.csv", ["path", "label"], [["a.png", 2], ["b.png", 0], ["c.png", 2]]
    )
    data = load_source(csv, size=16)
    assert data.class_names == ["0", "1", "2"]
    assert list(data.labels) == [2, 0, 2]


def test_split_column_is_official(tmp_path):
    _images(tmp_path, ["a.png", "b.png", "c.png"])
    csv = write_csv(
        tmp_path / "m.csv",
        ["path", "label", "split"],
        [["a.png", "x", "train"], ["b.png", "y", "val"], ["c.png", "x", "test"]],
    )
    data = load_source(csv, size=16)
    assert list(data.split) == ["train", "val", "test"]


@pytest.mark.parametrize("given", ["absolute", "relative"])
def test_folder_manifest_reports_unlisted_and_duplicate_files(tmp_path, monkeypatch, given):
    """Only the stray file is unlisted, whether the folder is given by an absolute path or a
    relative one (`gaunet evaluate --synthetic runs/x` once called every listed file unlisted)."""
    _images(tmp_path / "set", ["a.png", "b.png", "c.png", "stray.png"])
    write_csv(
        tmp_path / "set" / "manifest.csv",
        ["path", "label"],
        [["a.png", "x"], ["b.png", "y"], ["c.png", "x"], ["a.png", "y"]],
    )
    monkeypatch.chdir(tmp_path)
    data = load_source(tmp_path / "set" if given == "absolute" else "set", size=16)
    assert len(data) == 3
    reasons = {p.path.rsplit("/", 1)[-1]: p.reason for p in data.problems}
    assert "listed twice" in reasons["a.png"]
    assert "no label" in reasons["stray.png"]
    assert [p for p in data.problems if "no label" in p.reason] == [
        p for p in data.problems if p.path.endswith("stray.png")
    ]


def test_manifest_without_required_columns_is_an_error(tmp_path):
    from gaunet.data import SourceError

    csv = write_csv(tmp_path / "m.csv", ["file", "label"], [["a.png", "x"]])
    with pytest.raises(SourceError, match="lacks column.*path"):
        load_source(csv, size=16)


def test_images_match_the_files(tmp_path):
    _images(tmp_path, ["a.png", "b.png"])
    csv = write_csv(tmp_path / "m.csv", ["path", "label"], [["b.png", "k"], ["a.png", "k"]])
    data = load_source(csv, size=20, channels=1)
    from data_helpers import pattern

    assert np.array_equal(data.images[0, 0], pattern(1)) and clear_ids(csv, data)[0] == "b.png"


def test_empty_split_column_means_no_split(tmp_path):
    _images(tmp_path, ["a.png", "b.png"])
    csv = write_csv(
        tmp_path / "m.csv", ["path", "label", "split"], [["a.png", "x", ""], ["b.png", "y", ""]]
    )
    data = load_source(csv, size=16)
    assert data.split is None and len(data) == 2


def test_partial_split_column_skips_rows_without_one(tmp_path):
    _images(tmp_path, ["a.png", "b.png", "c.png"])
    rows = [["a.png", "x", "train"], ["b.png", "y", ""], ["c.png", "x", "holdout"]]
    data = load_source(write_csv(tmp_path / "m.csv", ["path", "label", "split"], rows), size=16)
    assert clear_ids(tmp_path / "m.csv", data) == ["a.png"]
    assert [p.reason.split(" (")[0] for p in data.problems] == [
        "split missing",
        "split 'holdout' is not one of train/val/test",
    ]


def test_conflicting_class_names_for_one_label_is_an_error(tmp_path):
    from gaunet.data import SourceError

    _images(tmp_path, ["a.png", "b.png"])
    rows = [["a.png", 0, "cat"], ["b.png", 0, "dog"]]
    csv = write_csv(tmp_path / "m.csv", ["path", "label", "class"], rows)
    with pytest.raises(SourceError, match="label 0 is named both 'cat' and 'dog'"):
        load_source(csv, size=16)


def test_split_names_in_any_case_and_common_spellings(tmp_path):
    _images(tmp_path, ["a.png", "b.png", "c.png", "d.png", "e.png"])
    rows = [["a.png", "x", "Train"], ["b.png", "y", "valid"], ["c.png", "x", "TEST"],
            ["d.png", "y", "Validation"], ["e.png", "x", "holdout"]]  # fmt: skip
    data = load_source(write_csv(tmp_path / "m.csv", ["path", "label", "split"], rows), size=16)
    assert dict(zip(clear_ids(tmp_path / "m.csv", data), data.split)) == {
        "a.png": "train", "b.png": "val", "c.png": "test", "d.png": "val"
    }  # fmt: skip
    assert [p.reason.split(" (")[0] for p in data.problems] == [
        "split 'holdout' is not one of train/val/test"
    ]


def test_a_row_with_more_fields_than_the_header_is_a_problem_on_its_own_line(tmp_path):
    """An unquoted comma in a path: the row is named with its line (blank lines and quoted
    line breaks counted), not a traceback."""
    _images(tmp_path, ["a.png", "b.png", "c.png"])
    (tmp_path / "m.csv").write_text(
        'path,label\na.png,x\n\n"b.png","y\nz"\nscan 1, left.png,x\nc.png,y\n'
    )
    data = load_source(tmp_path / "m.csv", size=16)
    assert sorted(clear_ids(tmp_path / "m.csv", data)) == ["a.png", "b.png", "c.png"]
    (problem,) = data.problems
    assert "3 fields where the header has 2 (an unquoted comma" in problem.reason
    assert problem.reason.endswith("m.csv:6)")


def test_a_path_written_on_windows_is_found(tmp_path):
    _images(tmp_path, ["sub dir/img 1.png", "sub dir/img 2.png"])
    rows = [["sub dir\\img 1.png", "x"], ["sub dir\\img 2.png", "y"]]
    data = load_source(write_csv(tmp_path / "m.csv", ["path", "label"], rows), size=16)
    assert len(data) == 2 and not data.problems


@pytest.mark.parametrize(
    "labels, outcome",
    [(["²", "1"], ["1", "²"]),  # not an ASCII integer: a class name (was a ValueError traceback)
     (["--1", "1"], ["--1", "1"]),
     (["1000000000", "0"], "at most 9999; write class names instead")],  # was a 1e9-name list
)  # fmt: skip
def test_label_text_that_only_looks_like_an_index(tmp_path, labels, outcome):
    from gaunet.data import SourceError

    _images(tmp_path, ["a.png", "b.png"])
    csv = write_csv(
        tmp_path / "m.csv", ["path", "label"], [["a.png", labels[0]], ["b.png", labels[1]]]
    )
    if isinstance(outcome, str):
        with pytest.raises(SourceError, match=outcome):
            load_source(csv, size=16)
    else:
        assert load_source(csv, size=16).class_names == outcome

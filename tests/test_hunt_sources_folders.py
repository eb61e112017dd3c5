"""Class-folder trees whose top-level entries are links: a class folder linked to another
class folder, and a link whose target is gone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from data_helpers import make_tree

from gaunet.data import load_source
from gaunet.data.readers.items import SourceError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


@pytest.mark.parametrize("link", ["c", "0"])  # after the real folder by name, and before it
def test_class_folder_linked_to_another_class_is_not_read_twice(tmp_path, link):
    root = make_tree(tmp_path / "src", {"a": 3, "b": 2})
    os.symlink("a", root / link)  # its images were read twice, under two labels, unreported
    data = load_source(root, size=16)
    assert data.class_names == ["a", "b"]
    assert data.class_counts() == {"a": 3, "b": 2}
    (problem,) = data.problems
    assert problem.path == str(root / link)
    assert "link to class folder 'a'" in problem.reason


def test_broken_link_at_the_top_is_reported(tmp_path):
    root = make_tree(tmp_path / "src", {"a": 2, "b": 2})
    os.symlink(tmp_path / "gone", root / "c")  # a class folder on an unmounted disk: silent
    data = load_source(root, size=16)
    assert data.class_names == ["a", "b"]
    (problem,) = data.problems
    assert problem.path == str(root / "c") and "broken" in problem.reason


def _split_tree(root):
    for split in ("train", "test", "val"):
        make_tree(root / split, {"NORMAL": 2, "PNEUMONIA": 2}, suffix=".jpeg")
    return root


def test_split_layout_is_refused_not_read_with_splits_as_classes(tmp_path):
    # Kermany's chest X-rays: root/train/NORMAL/x.jpeg; the classes were "test", "train", "val"
    root = _split_tree(tmp_path / "chest_xray")
    with pytest.raises(SourceError) as caught:
        load_source(root, size=16)
    message = str(caught.value)
    assert str(root) in message and "split layout" in message
    assert f"{root}/train" in message  # what to give instead


def test_one_split_of_that_layout_reads_as_class_folders(tmp_path):
    root = _split_tree(tmp_path / "chest_xray")
    data = load_source(root / "train", size=16)
    assert data.class_names == ["NORMAL", "PNEUMONIA"]


def test_classes_named_like_splits_holding_images_still_read(tmp_path):
    root = make_tree(tmp_path / "src", {"train": 2, "test": 2})  # images right inside: classes
    assert load_source(root, size=16).class_names == ["test", "train"]


def test_macosx_folder_of_an_unzipped_archive_is_named_as_such_not_a_class(tmp_path):
    root = make_tree(tmp_path / "src", {"a": 2, "b": 2})
    (root / "__MACOSX" / "a").mkdir(parents=True)
    (root / "__MACOSX" / "a" / "._a (0).png").write_bytes(b"\0\5\26\7" + b"\0" * 60)
    data = load_source(root, size=16)
    assert data.class_names == ["a", "b"]
    (problem,) = data.problems  # was "class has 0 usable image(s)": a class it never was
    assert problem.path == str(root / "__MACOSX") and "macOS" in problem.reason
    assert "class has" not in problem.reason


def test_broken_link_inside_a_class_folder_is_named_a_broken_link(tmp_path):
    root = make_tree(tmp_path / "src", {"a": 2, "b": 2})
    os.symlink(tmp_path / "moved.png", root / "a" / "x.png")  # was "No such file or directory"
    data = load_source(root, size=16)
    (problem,) = data.problems
    assert problem.path == str(root / "a" / "x.png") and "broken link" in problem.reason


@pytest.mark.parametrize("other", ["benign", "Benign ", "BENIGN"])
def test_class_folders_differing_only_in_case_or_spaces_are_refused(tmp_path, other) -> None:
    """`Benign` and `benign` were two classes with no word: almost surely one class split in
    two by hand (and one folder on a case-insensitive disk)."""
    make_tree(tmp_path / "data", {"Benign": 2, other: 2, "malignant": 2})
    with pytest.raises(SourceError, match="differ only in case or spaces"):
        load_source(tmp_path / "data", 8, 1)


def test_windows_folder_files_are_ignored_like_hidden_ones(tmp_path) -> None:
    """Explorer writes Thumbs.db and desktop.ini into folders it shows: they were reported as
    unsupported files in every command's summary."""
    make_tree(tmp_path / "data", {"a": 2, "b": 2})
    for name in ("Thumbs.db", "desktop.ini", ".DS_Store"):
        (tmp_path / "data" / "a" / name).write_bytes(b"\0\1")
    (tmp_path / "data" / "b" / "notes.txt").write_text("kept in the report")
    data = load_source(tmp_path / "data", 8, 1)
    assert len(data) == 4
    assert [Path(p.path).name for p in data.problems] == ["notes.txt"]


def test_a_subfolder_that_cannot_be_listed_is_no_traceback(tmp_path, monkeypatch) -> None:
    """`train`/`generate` look for a dataset's images in --out before writing there: a
    subfolder without read permission raised PermissionError as a traceback."""
    from gaunet.data.readers.decode import first_image_file

    (tmp_path / "locked").mkdir()
    make_tree(tmp_path, {"open": 1})  # tmp_path/open/open (0).png
    real = Path.iterdir

    def iterdir(self):
        if self.name == "locked":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    assert first_image_file(tmp_path) == tmp_path / "open" / "open (0).png"
    assert first_image_file(tmp_path / "locked") is None

"""Manifest dialects Excel writes: `;` or tab separated, and rows left empty but for their
separators."""

from __future__ import annotations

import pytest
from test_sources_manifest import _cache, _images  # noqa: F401 - the same fixture and files

from gaunet.data import load_source
from gaunet.data.readers.manifest import scan_manifest


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_semicolon_or_tab_separated_manifest_is_read_like_a_comma_one(tmp_path, separator):
    _images(tmp_path / "img", ["a,1.png", "b.png", "c.png", "d.png"])
    rows = [["path", "label", "patient_id"], ["img/a,1.png", "x", "p1"], ["img/b.png", "y", "p1"]]
    rows += [["img/c.png", "x", "p2"], ["img/d.png", "y", "p3"]]
    text = "\ufeff" + "\r\n".join(separator.join(row) for row in rows) + "\r\n"
    semi = tmp_path / "semi.csv"
    semi.write_text(text, encoding="utf-8", newline="")
    comma = tmp_path / "comma.csv"
    comma.write_text("\n".join(",".join(f'"{v}"' for v in row) for row in rows) + "\n")
    a, b = load_source(semi, size=16), load_source(comma, size=16)
    assert a.class_names == b.class_names == ["x", "y"]
    assert list(a.labels) == list(b.labels) == [0, 1, 0, 1]
    assert (a.images == b.images).all() and (a.ids == b.ids).all()
    assert (a.groups == b.groups).all() and not a.problems


def test_a_comma_manifest_whose_paths_hold_semicolons_stays_comma_separated(tmp_path):
    _images(tmp_path / "img", ["a;1.png", "b.png"])
    csv = tmp_path / "m.csv"
    csv.write_text("path,label\nimg/a;1.png,x\nimg/b.png,y\n")
    items, names, problems = scan_manifest(csv)
    assert [i.path.name for i in items] == ["a;1.png", "b.png"] and not problems


@pytest.mark.parametrize("empty", [",", ",,", ";;"])
def test_rows_left_empty_but_for_separators_are_blank_lines_not_problems(tmp_path, empty):
    _images(tmp_path / "img", ["a.png", "b.png"])
    separator = ";" if ";" in empty else ","
    csv = tmp_path / "m.csv"
    rows = ["path,label", "img/a.png,x", empty, "img/b.png,y", empty, empty]
    csv.write_text("\n".join(row.replace(",", separator) for row in rows) + "\n")
    items, names, problems = scan_manifest(csv)
    assert [i.path.name for i in items] == ["a.png", "b.png"]
    assert not problems, problems


def test_a_row_with_too_many_fields_is_one_problem_not_also_an_unlisted_file(tmp_path, monkeypatch):
    """The row's problem named its path relative to the working directory, so the folder's
    check for unlisted files did not see it listed and reported the file a second time as
    'not in manifest.csv'."""
    _images(tmp_path / "data" / "img", ["a.png", "b.png", "c.png"])
    csv = tmp_path / "data" / "manifest.csv"
    csv.write_text("path,label\nimg/a.png,x\nimg/b.png,y,extra\nimg/c.png,y\n")
    monkeypatch.chdir(tmp_path)
    items, names, problems = scan_manifest(csv)
    assert [p.path for p in problems] == [str(tmp_path / "data" / "img" / "b.png")]
    assert "3 fields where the header has 2" in problems[0].reason

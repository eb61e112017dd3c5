"""Every bad input of the issue: one clear line naming the file; skipped and counted; no crash."""

from __future__ import annotations

import io
import re

import pytest
from data_helpers import make_dicom, make_tree, write_csv, write_image
from PIL import Image

from gaunet.cli import main
from gaunet.data import SourceError, load_source


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 40).convert("RGB").save(buffer, fmt)
    return buffer.getvalue()


def _truncated_png(path):
    path.write_bytes(_encoded("PNG")[:300])


def _truncated_jpeg(path):
    path.write_bytes(_encoded("JPEG")[:400])


def _garbage(path):
    path.write_bytes(b"this is not an image" * 10)


def _zero_bytes(path):
    path.write_bytes(b"")


def _no_pixel_dicom(path):
    make_dicom(path, [[0, 1], [2, 3]], with_pixels=False)


@pytest.mark.parametrize(
    ("name", "write", "reason"),
    [
        ("cut.png", _truncated_png, "truncated image"),
        ("cut.jpg", _truncated_jpeg, "truncated image"),
        ("garbage.png", _garbage, "not a readable image"),
        ("empty file.png", _zero_bytes, r"empty file \(0 bytes\)"),
        ("notes.txt", _garbage, "unsupported format '.txt'"),
        ("anim.gif", _garbage, "unsupported format '.gif'"),
        ("scan.dcm", _no_pixel_dicom, "DICOM file without pixel data"),
        ("scan.dcm", _garbage, "not a readable DICOM"),
        ("vol.nii.gz", _garbage, "not a readable NIfTI"),
    ],
)
def test_bad_file_is_skipped_with_one_clear_line(tmp_path, name, write, reason):
    root = make_tree(tmp_path / "src", {"a": 2, "b": 2})
    write(root / "a" / name)
    data = load_source(root, size=16)
    assert len(data) == 4
    assert len(data.problems) == 1
    problem = data.problems[0]
    assert problem.path.endswith(f"a/{name}")
    assert re.search(reason, problem.reason)
    assert "\n" not in str(problem) and "Traceback" not in str(problem)


def test_class_folder_with_fewer_than_two_images_is_dropped(tmp_path):
    root = make_tree(tmp_path / "src", {"a": 2, "b": 3, "lonely": 1, "void": 0})
    (root / "void").mkdir()
    data = load_source(root, size=16)
    assert data.class_names == ["a", "b"]
    dropped = {p.path.rsplit("/", 1)[-1]: p.reason for p in data.problems}
    assert "1 usable image" in dropped["lonely"] and "0 usable image" in dropped["void"]


def test_broken_image_can_bring_a_class_below_two(tmp_path):
    root = make_tree(tmp_path / "src", {"a": 2, "b": 1, "c": 2})
    (root / "b" / "broken.png").write_bytes(b"")
    data = load_source(root, size=16)
    assert data.class_names == ["a", "c"] and len(data.problems) == 2


@pytest.mark.parametrize(
    ("layout", "says"),
    [
        ("empty", r"src: no class folders inside"),
        ("empty class folders", r"src: nothing usable found: .*a: class has 0 usable image"),
        ("only bad files", r"src: nothing usable found: .*x\.png: empty file \(0 bytes\)"),
    ],
)
def test_source_with_nothing_usable_is_an_error(tmp_path, layout, says):
    root = tmp_path / "src"
    root.mkdir()
    if layout != "empty":
        (root / "a").mkdir()
        (root / "b").mkdir()
    if layout == "only bad files":
        (root / "a" / "x.png").write_bytes(b"")
        (root / "b" / "y.png").write_bytes(b"junk")
    with pytest.raises(SourceError, match=says):
        load_source(root, size=16)


def test_manifest_row_problems(tmp_path):
    for i, name in enumerate(["a.png", "b.png", "c.png"]):
        write_image(tmp_path / "set" / name, seed=i)
    write_image(tmp_path / "outside.png")
    (tmp_path / "set" / "sub").mkdir()
    csv = write_csv(
        tmp_path / "set" / "labels.csv",
        ["path", "label"],
        [
            ["a.png", "x"],
            ["b.png", "y"],
            ["c.png", ""],
            ["../outside.png", "x"],
            [str(tmp_path / "outside.png"), "x"],
            ["missing.png", "y"],
            ["sub", "y"],
        ],
    )
    data = load_source(csv, size=16)
    assert len(data) == 2
    reasons = [(p.path.rsplit("/", 1)[-1], p.reason.split(" (")[0]) for p in data.problems]
    assert reasons == [
        ("c.png", "label missing from the manifest"),
        ("outside.png", "path outside the manifest's folder " + str(tmp_path / "set")),
        ("outside.png", "path outside the manifest's folder " + str(tmp_path / "set")),
        ("missing.png", "file not found"),
        ("sub", "a folder, not a file"),  # was "file not found"
    ]
    assert all("labels.csv:" in p.reason for p in data.problems)  # the row is named


def test_missing_source_and_unknown_kind(tmp_path):
    with pytest.raises(SourceError, match="no such file or folder"):
        load_source(tmp_path / "nope", size=16)
    (tmp_path / "single.nii.gz").write_bytes(b"x")
    with pytest.raises(SourceError, match="has no labels"):
        load_source(tmp_path / "single.nii.gz", size=16)


def test_cli_reports_without_traceback_and_fails(tmp_path, capsys):
    root = tmp_path / "src"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.png").write_bytes(b"")
    code = main(["data", "inspect", str(root)])
    err = capsys.readouterr().err
    assert code != 0
    assert "nothing usable" in err and "x.png: empty file" in err and "Traceback" not in err


def test_problem_report_for_train_start(tmp_path):
    root = make_tree(tmp_path / "src", {"a": 2, "b": 2})
    for i in range(3):
        (root / "a" / f"empty{i}.png").write_bytes(b"")
    data = load_source(root, size=16)
    report = data.problem_report(limit=2).splitlines()
    assert report[0] == f"3 file(s) skipped in {root}:"
    assert report[1].endswith("empty0.png: empty file (0 bytes)") and "1 more" in report[-1]
    assert load_source(make_tree(tmp_path / "ok", {"a": 2, "b": 2}), 16).problem_report() == ""

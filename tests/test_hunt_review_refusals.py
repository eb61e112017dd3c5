"""Review of today's refusals and messages (90d94f4..HEAD): cases where a new refusal or a new
message fires on input that worked before, or says something the code does not do.

Each case pins either a problem found by the review and fixed (a link to an existing file called
broken, an unread duplicate column refused, an empty split folder hiding a split layout, a
p-value still shown as 0.05, an older baseline run refused on resume) or what was checked and
found sound."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from data_helpers import make_tree

from gaunet.config import load_config
from gaunet.data import load_source
from gaunet.report.html import p_text


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def test_link_to_an_existing_file_at_the_top_is_not_called_broken(tmp_path):
    root = make_tree(tmp_path / "src", {"a": 2, "b": 2})
    image = sorted((root / "a").iterdir())[0]
    os.symlink(image, root / "stray.png")  # before today: "not inside a class folder; skipped"
    (tmp_path / "README.txt").write_text("notes")
    os.symlink(tmp_path / "README.txt", root / "README.txt")  # before today: silently ignored
    data = load_source(root, size=16)
    reasons = {Path(p.path).name: p.reason for p in data.problems}
    assert "broken" not in reasons.get("stray.png", ""), reasons
    assert "README.txt" not in reasons, reasons


def test_a_dangling_link_at_the_top_is_still_called_broken(tmp_path):
    root = make_tree(tmp_path / "src", {"a": 2, "b": 2})
    os.symlink(tmp_path / "gone.png", root / "gone.png")
    data = load_source(root, size=16)
    (problem,) = data.problems
    assert "broken" in problem.reason


def _manifest(tmp_path: Path, header: str, extra: str) -> Path:
    root = make_tree(tmp_path / "m", {"a": 2, "b": 2})
    rows = [
        f"{p.relative_to(root).as_posix()},{0 if p.parent.name == 'a' else 1}{extra}"
        for p in sorted(root.glob("*/*.png"))
    ]
    (root / "manifest.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    return root / "manifest.csv"


def test_an_unread_column_named_twice_is_not_refused(tmp_path):
    manifest = _manifest(tmp_path, "path,label,notes,notes", ",x,y")
    assert len(load_source(manifest, size=16).labels) == 4


def test_a_read_column_named_twice_is_refused(tmp_path):
    manifest = _manifest(tmp_path, "path,label,label", ",1")
    with pytest.raises(Exception, match="twice"):
        load_source(manifest, size=16)


@pytest.mark.parametrize("p", [0.04999, 0.049951, 0.05004])
def test_p_text_never_reads_0_05_unless_it_is(p):
    assert p_text(p) != "0.05"


@pytest.mark.parametrize("p", [0.0496, 0.0504, 0.05, 0.012, 0.3])
def test_p_text_elsewhere(p):
    assert (p_text(p) == "0.05") == (p == 0.05)


def test_the_refusal_itself_holds_for_a_new_gan_config():
    """(A run written before the refusal still resumes: tests/test_config.py.)"""
    from gaunet.config_checks import baseline_loss_problems

    gan = load_config("cpu-tiny", {"model": "gan", "diffaugment": "translation"})
    assert any("diffaugment" in problem for problem in baseline_loss_problems(gan))
    # the paper preset's gp_lambda is the default: its baselines are not refused
    assert load_config("paper", {"model": "gan"}).model == "gan"


def test_a_split_layout_is_refused(tmp_path):
    root = tmp_path / "chest"
    make_tree(root / "train", {"NORMAL": 3, "PNEUMONIA": 3})
    make_tree(root / "test", {"NORMAL": 2, "PNEUMONIA": 2})
    with pytest.raises(Exception, match="split layout"):
        load_source(root, size=16)


def test_a_split_layout_with_an_empty_split_is_still_refused(tmp_path):
    root = tmp_path / "chest"
    make_tree(root / "train", {"NORMAL": 3, "PNEUMONIA": 3})
    make_tree(root / "test", {"NORMAL": 2, "PNEUMONIA": 2})
    (root / "val").mkdir()
    with pytest.raises(Exception, match="split layout"):
        load_source(root, size=16)

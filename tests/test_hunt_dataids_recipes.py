"""Hunt: class-folder recipes say what they leave out (other formats, sub-folders)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_recipe_busi import REAL_BUSI, make_busi
from test_recipe_nct_crc import make_patches
from test_recipe_oct2017 import make_oct

from gaunet.cli import main
from gaunet.data.recipes.common import read_prepared_manifest


def _prepare(name: str, root: Path, out: Path) -> int:
    return main(["data", "prepare", name, "--root", str(root), "--out", str(out),
                 "--size", "16", "--channels", "1"])  # fmt: skip


def test_busi_says_which_files_it_left_out(tmp_path, capsys):
    make_busi(tmp_path / "in", {"benign": 5, "malignant": 5, "normal": 5})
    (tmp_path / "in" / "benign" / "benign (99).gif").write_bytes(b"GIF89a")
    (tmp_path / "in" / "malignant" / "more").mkdir()
    (tmp_path / "in" / "normal" / ".DS_Store").write_bytes(b"x")  # hidden: silent
    assert _prepare("busi", tmp_path / "in", tmp_path / "out") == 0
    printed = capsys.readouterr().out
    assert "left out 2 entries that are no image" in printed
    assert "benign (99).gif" in printed
    assert len(read_prepared_manifest(tmp_path / "out")) == 15  # masks skipped, not counted


def test_oct_says_which_files_it_left_out(tmp_path, capsys):
    make_oct(tmp_path / "in", leak=False)
    (tmp_path / "in" / "test" / "DME" / "DME-200-7.webp").write_bytes(b"RIFF")
    assert _prepare("oct2017", tmp_path / "in", tmp_path / "out") == 0
    printed = capsys.readouterr().out
    assert "left out 1 entries that are no image" in printed and "DME-200-7.webp" in printed


def test_nct_says_which_files_it_left_out(tmp_path, capsys):
    make_patches(tmp_path / "in" / "NCT-CRC-HE-100K", 6)
    (tmp_path / "in" / "NCT-CRC-HE-100K" / "ADI" / "nested").mkdir()
    assert _prepare("nct-crc-he-100k", tmp_path / "in", tmp_path / "out") == 0
    assert "left out 1 entries that are no image" in capsys.readouterr().out


def test_real_busi_leaves_nothing_out(tmp_path, capsys):
    if not REAL_BUSI.is_dir():
        pytest.skip(f"real BUSI copy not at {REAL_BUSI}")
    assert _prepare("busi", REAL_BUSI, tmp_path / "out") == 0
    printed = capsys.readouterr().out
    assert "780 images" in printed and "left out" not in printed

"""`gaunet data inspect --sheet DIR/`: the sheet goes inside the directory (it became a file
named like the directory when the path ended in '/'), and so does `--sheet EXISTING_DIR`."""

from __future__ import annotations

from PIL import Image

from gaunet.cli import main


def test_a_sheet_path_ending_in_a_slash_writes_sheet_png_inside(tmp_path, capsys) -> None:
    target = tmp_path / "out" / "dir"
    code = main(
        ["data", "inspect", "phantom:n=10", "--size", "16", "--quiet", "--sheet", f"{target}/"]
    )
    out = capsys.readouterr().out
    assert code == 0 and target.is_dir()
    assert Image.open(target / "sheet.png").format == "PNG"
    assert f"sheet    {target / 'sheet.png'}" in out


def test_an_existing_directory_gets_sheet_png_inside(tmp_path, capsys) -> None:
    code = main(
        ["data", "inspect", "phantom:n=10", "--size", "16", "--quiet", "--sheet", str(tmp_path)]
    )
    capsys.readouterr()
    assert code == 0 and Image.open(tmp_path / "sheet.png").format == "PNG"

"""`gaunet demo`: settings the generator cannot train with are refused before the folder is
pinned to them (hunt: --size 8 pinned demo.json, failed at the train step, and the rerun with
a usable --size was refused as other settings)."""

from __future__ import annotations

from pathlib import Path

from gaunet.cli import main


def test_size_the_generator_refuses_is_refused_before_pinning(tmp_path: Path, capsys) -> None:
    out = tmp_path / "d"
    args = ["demo", "--data", "phantom:n=30", "--out", str(out), "--steps", "1"]
    assert main([*args, "--size", "8"]) == 2
    err = capsys.readouterr().err
    assert "size 8 is not divisible" in err and "gaunet generator" in err
    assert not (out / "demo.json").exists()

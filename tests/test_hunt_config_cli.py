"""`gaunet train` flags whose empty value (an unset shell variable, quoted) was a silent
default, and an `init_from` under `~` that was looked up literally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from train_helpers import PHANTOM, TINY, one_train_error_line, tiny_train

from gaunet.cli import main

TINY_SETS = [f"--set={key}={value}" for key, value in TINY.items()]


@pytest.mark.parametrize(
    ("flag", "named"),
    [("--config", "--config is empty"), ("--init-from", "--init-from is empty")],
)
def test_an_empty_flag_is_refused(tmp_path: Path, capsys, flag, named):
    """`--config ""` trained cpu-tiny and `--init-from ""` random weights, without a word."""
    out = tmp_path / "run"
    argv = ["train", "--data", PHANTOM, "--out", str(out), "--quiet", "--steps", "2"]
    assert main([*argv, *TINY_SETS, flag, ""]) == 2
    one_train_error_line(capsys.readouterr().err, named)
    assert not out.exists()


def test_init_from_under_home_is_found(tmp_path: Path, monkeypatch):
    """`--set init_from=~/runs/a` (no shell expands the ~ after `=`; a YAML config neither) was
    refused: "init_from ~/runs/a: no such run folder or checkpoint"."""
    tiny_train(tmp_path / "home" / "source", steps=2)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    run = tiny_train(tmp_path / "run", steps=2, init_from="~/source")
    record = json.loads((run / "run.json").read_text())["init_from"]
    assert record["source"] == str((tmp_path / "home" / "source").resolve())

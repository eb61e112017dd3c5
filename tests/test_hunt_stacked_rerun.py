"""A stack rerun after it completed (train_together called again with the same steps, as a
pipeline script rerun does): like train()'s resume of a completed run, nothing is trained and
nothing rewritten, so images generated from the last checkpoint still match its sha256."""

from __future__ import annotations

import hashlib
from pathlib import Path

from train_helpers import PHANTOM, TINY

from gaunet.training import train_together

FP32 = {**TINY, "precision": "fp32"}


def _files(run: Path) -> dict[str, str]:
    names = ["checkpoints/last.pt", "run.json", "metrics.jsonl", "samples/step-000004.png"]
    return {name: hashlib.sha256((run / name).read_bytes()).hexdigest() for name in names}


def test_a_completed_stack_rerun_rewrites_nothing(tmp_path: Path, capsys) -> None:
    outs = [tmp_path / "a", tmp_path / "b"]
    settings = {**FP32, "sample_every": 2, "log_every": 2}
    train_together([PHANTOM] * 2, outs, "cpu-tiny", settings, steps=4, seeds=[3, 4],
                   progress=False)  # fmt: skip
    before = {out: _files(out) for out in outs}
    capsys.readouterr()
    train_together([None, None], outs, "cpu-tiny", settings, steps=4, progress=False)
    for out in outs:
        assert _files(out) == before[out], out
    assert "2 runs already completed (step 4 of 4)" in capsys.readouterr().err
    # more steps still train on
    train_together([None, None], outs, "cpu-tiny", settings, steps=6, progress=False)
    for out in outs:
        assert _files(out)["checkpoints/last.pt"] != before[out]["checkpoints/last.pt"]

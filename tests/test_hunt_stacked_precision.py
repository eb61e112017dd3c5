"""Runs whose `precision: auto` resolved differently when they began (one started where the
device had no native bf16, one where it had) cannot share a stack, which runs in one
precision: the stack trained both in the first run's and the other's run.json still named its
own. Refused now, naming both, with every folder as it was."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from train_helpers import TINY, tiny_train

from gaunet.errors import GaunetError
from gaunet.training import train_together
from gaunet.training.checkpoint import load_checkpoint, save_checkpoint


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".gaunet.lock"
    }


def test_runs_begun_in_different_precisions_are_refused_untouched(tmp_path: Path) -> None:
    a = tiny_train(tmp_path / "a", steps=2, seed=3, precision="auto")
    b = tiny_train(tmp_path / "b", steps=2, seed=4, precision="auto")
    # what `auto` resolved to on the device the runs trained on (a GPU where there is one: the
    # CPU's own resolution was wrong there on a CPU without native bf16)
    here = json.loads((a / "run.json").read_text())["precision"]
    other = "fp32" if here == "bf16" else "bf16"
    # b as a run begun on another machine, where `auto` resolved to the other precision
    state, path, _ = load_checkpoint(b / "checkpoints" / "last.pt")
    state["precision_used"] = other
    save_checkpoint(state, [path])
    info = json.loads((b / "run.json").read_text())
    (b / "run.json").write_text(json.dumps({**info, "precision": other}))
    before = {run: _snapshot(run) for run in (a, b)}
    with pytest.raises(GaunetError, match=f"trains in {other}, but .* in {here}"):
        train_together([None, None], [a, b], "cpu-tiny", {**TINY, "precision": "auto"},
                       steps=4, progress=False)  # fmt: skip
    for run in (a, b):
        assert _snapshot(run) == before[run], run


def test_runs_with_different_learning_rates_are_refused_untouched(tmp_path: Path) -> None:
    """A run rolled back alone (its rates halved) beside one that was not: the stack trained
    both at the first run's rates and wrote those into the other's checkpoint."""
    fp32 = {**TINY, "precision": "fp32"}
    a = tiny_train(tmp_path / "a", steps=2, seed=3, precision="fp32")
    b = tiny_train(tmp_path / "b", steps=2, seed=4, precision="fp32")
    state, path, _ = load_checkpoint(b / "checkpoints" / "last.pt")
    for opt in ("opt_g", "opt_d"):  # as Trainer.rollback leaves them
        for group in state[opt]["param_groups"]:
            group["lr"] /= 2
    state["rollbacks"] = 1
    save_checkpoint(state, [path])
    before = {run: _snapshot(run) for run in (a, b)}
    with pytest.raises(GaunetError, match="learning rates"):
        train_together([None, None], [a, b], "cpu-tiny", fp32, steps=4, progress=False)
    for run in (a, b):
        assert _snapshot(run) == before[run], run

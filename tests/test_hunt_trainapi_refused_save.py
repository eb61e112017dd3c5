"""A checkpoint refused for non-finite weights (Trainer.save() returns False) leaves last.pt at
an earlier step: run.json must keep naming that checkpoint (its step and sha256), not claim the
new step (and "completed") beside the previous checkpoint's digest."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import torch
from train_helpers import PHANTOM, TINY

from gaunet.training import loop, train, train_together

SETTINGS = {**TINY, "precision": "fp32", "checkpoint_every": 2, "log_every": 2}


def _refuse_call(monkeypatch, refused: int) -> None:
    """The `refused`-th checkpoint write (counting from 1) finds non-finite weights."""
    calls = {"n": 0}

    def all_finite(tensors) -> bool:
        calls["n"] += 1
        return calls["n"] != refused

    monkeypatch.setattr(loop, "all_finite", all_finite)


def _agrees(run: Path) -> tuple[int, str]:
    """(run.json's step, its status) after checking that it names last.pt as it is."""
    info = json.loads((run / "run.json").read_text())
    last = run / "checkpoints" / "last.pt"
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert info["steps"] == state["step"], (info["steps"], state["step"])
    assert info["checkpoint_sha256"] == hashlib.sha256(last.read_bytes()).hexdigest()
    return info["steps"], info["status"]


def test_a_refused_final_save_leaves_run_json_naming_the_kept_checkpoint(
    tmp_path: Path, monkeypatch
) -> None:
    _refuse_call(monkeypatch, 2)  # step 2 saved, the end (step 4) refused
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(PHANTOM, tmp_path / "run", "cpu-tiny", SETTINGS, steps=4, progress=False)
    step, status = _agrees(tmp_path / "run")
    assert step == 2 and status != "completed"


def test_a_refused_save_in_a_stack_leaves_that_members_run_json_as_it_was(
    tmp_path: Path, monkeypatch
) -> None:
    outs = [tmp_path / "a", tmp_path / "b"]
    _refuse_call(monkeypatch, 4)  # step 2: a, b saved; step 4: a saved, b refused
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_together([PHANTOM] * 2, outs, "cpu-tiny", SETTINGS, steps=4, progress=False)
    assert _agrees(outs[0]) == (4, "completed")
    step, status = _agrees(outs[1])
    assert step == 2 and status != "completed"

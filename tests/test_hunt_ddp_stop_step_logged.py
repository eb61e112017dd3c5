"""A Ctrl-C that lands in a log (or sample) step stopped the loop before that step's metrics
record and sample grid: the checkpoint holds the step, so the resume starts after it and the
record and grid were never written (torchrun's agreed stop, RunLoop._stop_agreed, and the single
process's deferred Ctrl-C both raised right after train_step); the stop is now held until the
step's record and grid are written, then saved at that step."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from train_helpers import tiny_train

from gaunet.training import loop, train

VOLATILE = ("images_per_second", "elapsed_seconds")


def _records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in VOLATILE} for line in lines]


def test_a_stop_at_a_log_step_keeps_its_record_and_grid(tmp_path: Path, monkeypatch) -> None:
    whole = tiny_train(tmp_path / "whole", steps=12)  # logs at 5, 10, 12; a grid at 10, 12
    original = loop.Trainer.train_step

    def pressed_in_step_10(self: loop.Trainer, totals: dict) -> None:
        if self.step == 9:
            os.kill(os.getpid(), signal.SIGINT)  # deferred: the loop stops after step 10
        original(self, totals)

    monkeypatch.setattr(loop.Trainer, "train_step", pressed_in_step_10)
    run = tmp_path / "split"
    with pytest.raises(KeyboardInterrupt):
        tiny_train(run, steps=12)
    monkeypatch.setattr(loop.Trainer, "train_step", original)
    train(None, run, steps=12, resume=True, progress=False)
    assert _records(run) == _records(whole)
    grids = [sorted(p.name for p in (r / "samples").iterdir()) for r in (run, whole)]
    assert grids[0] == grids[1]

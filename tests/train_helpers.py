"""Shared settings for the trainer's tests: a network small enough that a step takes a few ms."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("GAUNET_NO_PROGRESS", "1")

TINY = {
    "size": 16,
    "batch_size": 4,
    "n_critic": 2,
    "g_width": 4,
    "g_width_max": 8,
    "g_convs_per_block": 1,
    "d_growth": 4,
    "d_stem": 4,
    "d_layers_per_block": 2,
    "z_dim": 8,
    "noise_channels": 2,
    "class_embed_dim": 2,
    "log_every": 5,
    "sample_every": 10,
    "checkpoint_every": 10,
    "periodic_every": 20,
    "tensorboard": False,
    "num_threads": 1,
}
PHANTOM = "phantom:n=12,classes=2"


def tiny_train(out: Path, steps: int, data=PHANTOM, seed=None, **extra):
    from gaunet.training import train

    return train(data, out, config="cpu-tiny", overrides={**TINY, **extra}, steps=steps, seed=seed)


def one_train_error_line(err: str, *needles: str) -> str:
    """stderr of a refused `gaunet train`: exactly one line, `gaunet train: error: ...`, no
    traceback, holding every needle; returned."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gaunet train: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def ctrl_c_at(monkeypatch, stepper: type, step: int) -> None:
    """Press Ctrl-C (a real SIGINT to this process) inside the step that reaches `step` of
    `stepper.train_step` (Trainer or StackedStepper): the loop finishes that step, then stops
    and saves at `step`."""
    import os
    import signal

    assert step >= 1, "Ctrl-C arrives inside a step, so the earliest stop is after step 1"
    original = stepper.train_step

    def interrupted(self, totals):
        if self.step == step - 1:
            os.kill(os.getpid(), signal.SIGINT)
        original(self, totals)

    monkeypatch.setattr(stepper, "train_step", interrupted)

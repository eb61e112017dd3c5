"""Giving up after max_rollbacks in a --minutes run: the message's `gaunet train --out RUN
--resume --set max_rollbacks=N` has no budget, and a --minutes run's config.yaml says steps: 0,
so the very command it named was refused ("no budget"): it now gives the run's --minutes again,
as _resume_command (api.py) does for Ctrl-C."""

from __future__ import annotations

import shlex
import warnings

import pytest
from train_helpers import PHANTOM, TINY

from gaunet.errors import GaunetError
from gaunet.training import train
from gaunet.training.loss_gaunet import GaunetFamily


def _poison_after_step_4(monkeypatch) -> None:
    original = GaunetFamily.generator_loss
    calls = {"n": 0}

    def poisoned(self, generator, critic, batch):
        calls["n"] += 1
        loss, stats = original(self, generator, critic, batch)
        if calls["n"] >= 5:  # fine up to the checkpoint at step 4, then never again
            loss = loss * float("nan")
            stats = {**stats, "loss_g": loss.detach()}
        return loss, stats

    monkeypatch.setattr(GaunetFamily, "generator_loss", poisoned)


def test_the_give_up_advice_of_a_minutes_run_is_a_command_that_runs(tmp_path, monkeypatch):
    _poison_after_step_4(monkeypatch)
    run = tmp_path / "run"
    settings = {**TINY, "log_every": 2, "checkpoint_every": 4, "max_rollbacks": 1}
    with warnings.catch_warnings(), pytest.raises(GaunetError) as gave_up:
        warnings.simplefilter("ignore")
        train(PHANTOM, run, config="cpu-tiny", overrides=settings, minutes=0.2)
    advice = shlex.split(str(gave_up.value).split("`")[1])
    assert advice[:2] == ["gaunet", "train"] and "--resume" in advice
    assert "--minutes" in advice or "--steps" in advice, advice  # else: "no budget"


def test_a_give_up_closes_the_metrics_logs(tmp_path, monkeypatch):
    """The give-up's GaunetError left the TensorBoard writer open (Python API callers that go
    on, e.g. a notebook, kept the file handle and its unflushed events)."""
    from gaunet.training.run_folder import MetricsLog

    _poison_after_step_4(monkeypatch)
    closed = []
    original_close = MetricsLog.close
    monkeypatch.setattr(MetricsLog, "close", lambda self: closed.append(original_close(self)))
    settings = {**TINY, "log_every": 2, "checkpoint_every": 4, "max_rollbacks": 1}
    with warnings.catch_warnings(), pytest.raises(GaunetError, match="non-finite"):
        warnings.simplefilter("ignore")
        train(PHANTOM, tmp_path / "run", config="cpu-tiny", overrides=settings, steps=12)
    assert closed

"""Divergence: a non-finite loss or weight is caught before the next checkpoint or the end of the
run, the run rolls back with lower learning rates, and no non-finite checkpoint is ever written.
(test_train_loop.py covers the rollback at a log interval.)"""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from train_helpers import tiny_train

import gaunet.training.loop as loop
from gaunet.errors import GaunetError
from gaunet.training.checkpoint import all_finite, load_checkpoint
from gaunet.training.divergence import backed_off_lr, window_finite
from gaunet.training.loss_gaunet import GaunetFamily

LR = 1e-4


def _poison(monkeypatch, calls: set[int], kind: str = "loss") -> None:
    """Make the generator step of the given calls (1-based) non-finite: its loss, or one weight
    set to inf before the forward pass (non-finite weights)."""
    original = GaunetFamily.generator_loss
    count = {"n": 0}

    def poisoned(self, generator, critic, batch):
        count["n"] += 1
        hit = count["n"] in calls
        if hit and kind == "weights":
            with torch.no_grad():
                next(generator.parameters()).fill_(float("inf"))
        loss, stats = original(self, generator, critic, batch)
        if hit and kind == "loss":
            loss = loss * float("nan")
            stats = {**stats, "loss_g": loss.detach()}
        return loss, stats

    monkeypatch.setattr(GaunetFamily, "generator_loss", poisoned)


def _spy(monkeypatch) -> tuple[list[int], list[tuple[int, bool]]]:
    """Steps at which rollbacks happen, and (step, finite) of every checkpoint written."""
    rollbacks, saved = [], []
    original_rollback, original_save = loop.Trainer.rollback, loop.save_checkpoint

    def rollback(self, initial, log=None):
        rollbacks.append(self.step)
        original_rollback(self, initial, log)

    def save(state, paths):
        saved.append((state["step"], all_finite([state["generator"], state["critic"]])))
        return original_save(state, paths)

    monkeypatch.setattr(loop.Trainer, "rollback", rollback)
    monkeypatch.setattr(loop, "save_checkpoint", save)
    return rollbacks, saved


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("kind", ["loss", "weights"])
def test_caught_before_the_next_checkpoint_with_lower_lr(tmp_path, monkeypatch, kind):
    _poison(monkeypatch, {3}, kind)  # step 3; checkpoints every 2 steps, logs every 5
    rollbacks, saved = _spy(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = tiny_train(tmp_path / "run", steps=10, checkpoint_every=2, lr_g=LR, lr_d=LR)
    messages = [str(w.message) for w in caught]
    assert rollbacks == [4], "not rolled back at the first checkpoint after the bad step"
    assert any("lowered to lr_g=5e-05 lr_d=5e-05" in m for m in messages)
    assert not any("checkpoint not written" in m for m in messages)  # never even attempted
    assert all(finite for _, finite in saved) and saved[0][0] == 2
    state, _, _ = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 10 and state["rollbacks"] == 1
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(LR / 2)
    assert state["opt_d"]["param_groups"][0]["lr"] == pytest.approx(LR / 2)
    last = _records(run)[-1]
    assert last["rollbacks"] == 1 and last["lr_g"] == pytest.approx(LR / 2)
    assert json.loads((run / "run.json").read_text())["rollbacks"] == 1


def test_bad_last_step_is_rolled_back_not_finished(tmp_path, monkeypatch):
    _poison(monkeypatch, {7})  # the run's last step, between log intervals, no checkpoint due
    rollbacks, saved = _spy(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = tiny_train(tmp_path / "run", steps=7, checkpoint_every=0)
    assert rollbacks == [7]
    assert saved and all(finite for _, finite in saved) and saved[-1][0] == 7
    state, _, _ = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 7 and all_finite(state["generator"])


def test_each_rollback_lowers_the_lr_again_then_gives_up(tmp_path, monkeypatch):
    _poison(monkeypatch, {2, 4})  # no checkpoint yet: both roll back to the start
    rollbacks, _ = _spy(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = tiny_train(tmp_path / "run", steps=4, log_every=2, lr_g=LR, lr_d=LR * 2)
    assert rollbacks == [2, 2]
    state, _, _ = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(LR / 4)
    assert state["opt_d"]["param_groups"][0]["lr"] == pytest.approx(LR / 2)

    _poison(monkeypatch, set(range(1, 100)))
    with warnings.catch_warnings(), pytest.raises(GaunetError, match="non-finite 3 times"):
        warnings.simplefilter("ignore")
        tiny_train(tmp_path / "hopeless", steps=4, log_every=2, max_rollbacks=2)


def test_window_check_sees_any_step():
    finite = {"loss_d": torch.tensor(1.5), "loss_g": torch.tensor(-2.0)}
    assert window_finite(finite) and window_finite({})
    for bad in (float("nan"), float("inf"), -float("inf")):
        assert not window_finite({**finite, "loss_g": finite["loss_g"] + bad})
    assert not window_finite(finite, reduce=lambda t: t * float("nan"))
    assert backed_off_lr(1e-4, 0) == 1e-4 and backed_off_lr(1e-4, 3) == pytest.approx(1.25e-5)


def test_giving_up_records_the_last_good_step_and_how_to_go_on(tmp_path, monkeypatch):
    """run.json said "running" at the step that diverged, and the advice (other learning
    rates, fp32) was what a resume refuses."""
    _poison(monkeypatch, set(range(5, 100)))  # fine until a checkpoint at step 4, then never
    with warnings.catch_warnings(), pytest.raises(GaunetError) as caught:
        warnings.simplefilter("ignore")
        tiny_train(tmp_path / "run", steps=12, log_every=2, checkpoint_every=4, max_rollbacks=2)
    message = str(caught.value)
    assert "non-finite 3 times (max_rollbacks 2)" in message
    assert (
        "last good checkpoint (step 4)" in message and "--resume --set max_rollbacks=6" in message
    )
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (record["status"], record["steps"]) == ("diverged", 4)


def test_a_resume_after_giving_up_tries_new_rates(tmp_path, monkeypatch):
    """The resume the message names (--set max_rollbacks=6) went on from the checkpoint's count
    and rates: its first three rollbacks repeated the three that had failed, same rates, same
    seeds. The checkpoint is now saved as the last rollback left it."""
    from train_helpers import TINY

    from gaunet.training import train

    _poison(monkeypatch, set(range(5, 200)))
    settings = {**TINY, "log_every": 2, "checkpoint_every": 4, "max_rollbacks": 2}
    with warnings.catch_warnings(), pytest.raises(GaunetError):
        warnings.simplefilter("ignore")
        tiny_train(tmp_path / "run", steps=12, lr_g=LR, lr_d=LR, **settings)
    state, _, _ = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["step"] == 4 and state["rollbacks"] == 3 and all_finite(state["generator"])
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(LR / 8)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(GaunetError) as again:
        warnings.simplefilter("always")
        train(None, tmp_path / "run", resume=True, overrides={"max_rollbacks": 6}, steps=12)
    rolled = [str(w.message) for w in caught if "rolled back" in str(w.message)]
    assert [m.split("(")[1].split(")")[0] for m in rolled] == [
        "rollback 4",
        "rollback 5",
        "rollback 6",
    ]
    assert "lr_g=6.25e-06" in rolled[0]  # LR / 16: a rate not tried before
    assert "non-finite 7 times (max_rollbacks 6)" in str(again.value)


def test_a_ctrl_c_during_a_rollback_saves_the_rolled_back_state(tmp_path, monkeypatch):
    """Raised inside the rollback, it saved the step that diverged with the checkpoint's weights
    and no lowered rate (or non-finite Adam moments) over the good last.pt."""
    import os
    import signal

    _poison(monkeypatch, {5})  # checkpoint at 4; the window of steps 5-6 rolls back
    original = loop.Trainer.load_state

    def interrupted_load(self, state):
        os.kill(os.getpid(), signal.SIGINT)  # lands in the middle of the rollback
        original(self, state)

    monkeypatch.setattr(loop.Trainer, "load_state", interrupted_load)
    with warnings.catch_warnings(), pytest.raises(KeyboardInterrupt):
        warnings.simplefilter("ignore")
        tiny_train(tmp_path / "run", steps=12, log_every=2, checkpoint_every=4, lr_g=LR, lr_d=LR)
    state, _, _ = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["step"] == 4 and state["rollbacks"] == 1
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(LR / 2)
    assert all_finite([state["generator"], state["critic"], state["ema"]])


def test_the_bar_goes_back_with_a_rollback(tmp_path, monkeypatch):
    """After a rollback from step 4 to 2, the bar draws steps 3 and 4 again: setting its count
    alone left tqdm's last drawn count at 4, so it drew nothing until step 5 (and its rate then
    counted one step for all the time since)."""
    import io
    import re

    from tqdm import tqdm

    import gaunet.training.run_loop as run_loop

    drawn = io.StringIO()

    def bar(*args, **kwargs):
        kwargs.pop("disable", None)
        return tqdm(*args, **kwargs, file=drawn, mininterval=0, miniters=1, ascii=True)

    monkeypatch.setattr(run_loop, "progress_bar", bar)
    _poison(monkeypatch, {3})
    rollbacks, _ = _spy(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tiny_train(tmp_path / "run", steps=6, checkpoint_every=2)
    assert rollbacks == [4]
    counts = [int(n) for n in re.findall(r"(\d+)/6\b", drawn.getvalue())]
    after = counts[counts.index(4) + 1 :]
    assert after[:2] == [3, 4] or after[:3] == [2, 3, 4], counts


def _poison_moments(monkeypatch, call: int, stop: bool = False) -> None:
    """At the given generator loss call (1-based), one of the generator's Adam second moments
    set to inf (the weight it scales then stops moving, every loss finite); with `stop`, a
    Ctrl-C right after."""
    import os
    import signal

    original, begin = GaunetFamily.generator_loss, loop.Trainer._begin
    seen = {"calls": 0, "opt": None}

    def poisoned(self, generator, critic, batch):
        seen["calls"] += 1
        if seen["calls"] == call:
            state = next(iter(seen["opt"].state.values()))
            state["exp_avg_sq"].view(-1)[0] = float("inf")
            if stop:
                os.kill(os.getpid(), signal.SIGINT)
        return original(self, generator, critic, batch)

    def remember(self, started):
        seen["opt"] = self.opt_g
        return begin(self, started)

    monkeypatch.setattr(GaunetFamily, "generator_loss", poisoned)
    monkeypatch.setattr(loop.Trainer, "_begin", remember)


def test_inf_adam_moments_are_rolled_back_before_a_checkpoint(tmp_path, monkeypatch):
    """A squared gradient overflowing to inf in Adam's second moment freezes that weight
    (update exp_avg / inf = 0): every loss and weight stays finite, so only the losses' check
    let the checkpoint be written with it. The moments are checked with the losses now."""
    _poison_moments(monkeypatch, call=4)  # step 3's Adam step has run
    rollbacks, saved = _spy(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = tiny_train(tmp_path / "run", steps=6, checkpoint_every=2, lr_g=LR, lr_d=LR)
    assert rollbacks == [4]
    state, _, _ = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 6 and all_finite([state["opt_g"], state["opt_d"]])


def test_a_ctrl_c_never_saves_inf_adam_moments(tmp_path, monkeypatch):
    """A Ctrl-C saves without the window's check: inf moments were written over the good
    last.pt. The save itself refuses them now, and the checkpoint before stays."""
    _poison_moments(monkeypatch, call=3, stop=True)  # in step 3 (checkpoint at 2)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(KeyboardInterrupt):
        warnings.simplefilter("always")
        tiny_train(tmp_path / "run", steps=10, checkpoint_every=2)
    assert any("Adam moments, checkpoint not written" in str(w.message) for w in caught)
    state, _, _ = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["step"] == 2 and all_finite([state["opt_g"], state["opt_d"]])


def test_a_rollback_warns_on_rank_0_alone(tmp_path, monkeypatch):
    """Under torchrun every rank rolls back together: the warning came once per rank."""
    import dataclasses

    _poison(monkeypatch, {3})
    original = loop.Trainer.rollback

    def as_rank_1(self, initial, log=None):
        main, self.dist = self.dist, dataclasses.replace(self.dist, rank=1)
        try:
            original(self, initial, log)
        finally:
            self.dist = main

    monkeypatch.setattr(loop.Trainer, "rollback", as_rank_1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tiny_train(tmp_path / "run", steps=6, checkpoint_every=2)
    assert not any("rolled back" in str(w.message) for w in caught)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["rollbacks"] == 1

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from train_helpers import PHANTOM, TINY, ctrl_c_at, tiny_train

from gaunet.data import load_source
from gaunet.errors import GaunetError, GaunetWarning
from gaunet.training import train
from gaunet.training.checkpoint import load_checkpoint
from gaunet.training.loop import Trainer


def test_thirty_steps_write_every_artefact(tmp_path):
    run = tiny_train(tmp_path / "run", steps=30, tensorboard=True)
    for name in ("config.yaml", "split.csv", "run.json", "metrics.jsonl", "train_images.npz"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == [
        "step-000010.png", "step-000020.png", "step-000030.png"
    ]  # fmt: skip
    grid = np.asarray(Image.open(run / "samples" / "step-000030.png"))
    assert grid.shape[0] > 2 * 16  # one row per class (2 classes)
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert ckpts == ["last.pt", "last.pt.sha256", "step-000020.pt", "step-000020.pt.sha256"]
    state, _, _ = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 30
    assert {"generator", "critic", "ema", "opt_g", "opt_d", "rng", "sampler"} <= set(state)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [5, 10, 15, 20, 25, 30]
    for key in ("loss_d", "loss_g", "gradient_penalty", "wasserstein", "images_per_second"):
        assert all(np.isfinite(r[key]) for r in records), key
    info = json.loads((run / "run.json").read_text())
    assert info["steps"] == 30 and info["finished"] is True
    assert info["images_seen"] == 30 * TINY["batch_size"] * (TINY["n_critic"] + 1)
    assert {"torch", "gaunet"} <= set(info["versions"]) and info["device"] == (
        "cuda" if torch.cuda.is_available() else "cpu"
    )


def test_imageset_with_only_train_rows_trains_on_exactly_those(tmp_path):
    data = load_source(PHANTOM, size=16, channels=1)
    chosen = data.subset(np.arange(0, len(data), 3))
    chosen.split = np.full(len(chosen), "train")
    run = tiny_train(tmp_path / "run", steps=2, data=chosen)
    with np.load(run / "train_images.npz") as saved:
        assert list(saved["ids"]) == list(chosen.ids)
        assert np.array_equal(saved["images"], chosen.images)


def test_split_keeps_val_and_test_out_of_training(tmp_path):
    run = tiny_train(tmp_path / "run", steps=1)
    rows = (run / "split.csv").read_text().splitlines()[1:]
    train_ids = {r.split(",")[0] for r in rows if r.endswith(",train")}
    with np.load(run / "train_images.npz") as saved:
        assert set(saved["ids"]) == train_ids and len(train_ids) < len(rows)


def test_existing_run_is_not_overwritten(tmp_path):
    run = tiny_train(tmp_path / "run", steps=1)
    with pytest.raises(GaunetError, match="--resume"):
        tiny_train(run, steps=1)


def test_minutes_budget_stops_by_wall_clock(tmp_path):
    run = train(PHANTOM, tmp_path / "run", overrides={**TINY, "sample_every": 0}, minutes=0.02)
    info = json.loads((run / "run.json").read_text())
    assert info["finished"] and info["steps"] >= 1 and info["wall_seconds"] < 30


@pytest.mark.parametrize(
    "hint, says",
    [("", "continue with: gaunet train --out {run} --resume"),
     ("rerun the same gaunet benchmark command",
      "continue with: rerun the same gaunet benchmark command")],
)  # fmt: skip
def test_ctrl_c_saves_a_checkpoint_and_reraises(tmp_path, monkeypatch, capsys, hint, says):
    """The message names how to continue: `gaunet train --resume`, or the caller's command
    (a benchmark or demo resumes its generator itself)."""
    ctrl_c_at(monkeypatch, Trainer, 3)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(PHANTOM, run, config="cpu-tiny", overrides=TINY, steps=10, resume_hint=hint)
    state, _, _ = load_checkpoint(run / "checkpoints")
    assert state["step"] == 3
    err = capsys.readouterr().err
    assert f"interrupted: checkpoint saved at step 3; {says.format(run=run)}" in err
    assert hint or "gaunet benchmark" not in err


def poison_generator_loss(monkeypatch, at: int, before=None) -> None:
    """The generator loss of call `at` becomes NaN (its gradients poison the weights, so the
    window's losses go non-finite and the run rolls back); `before(call)` runs first."""
    from gaunet.training.loss_gaunet import GaunetFamily

    original = GaunetFamily.generator_loss
    calls = {"n": 0}

    def poisoned(self, generator, critic, batch):
        calls["n"] += 1
        if before is not None:
            before(calls["n"])
        loss, stats = original(self, generator, critic, batch)
        if calls["n"] == at:
            loss = loss * float("nan")
            stats = {"loss_g": loss.detach()}
        return loss, stats

    monkeypatch.setattr(GaunetFamily, "generator_loss", poisoned)


def test_non_finite_loss_rolls_back_and_is_counted(tmp_path, monkeypatch):
    poison_generator_loss(monkeypatch, at=7)  # inside the second log window
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = tiny_train(tmp_path / "run", steps=15)
    assert any("non-finite" in str(w.message) for w in caught)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 15 and records[-1]["rollbacks"] == 1
    assert json.loads((run / "run.json").read_text())["rollbacks"] == 1
    state, _, _ = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 15
    assert all(
        torch.isfinite(v).all() for v in state["generator"].values() if v.is_floating_point()
    )


@pytest.mark.parametrize(
    ("seconds_left", "shown"), [(math.inf, None), (125.3, "2:05"), (59.9, "0:59"), (-3.0, "0:00")]
)
def test_progress_bar_counts_down_a_minutes_budget(seconds_left, shown):
    from gaunet.training.window import postfix as _postfix

    record = {"loss_d": -1.25, "loss_g": 0.5, "images_per_second": 123.4}
    fields = _postfix(record, seconds_left)
    assert fields["d"] == "-1.250" and fields["img_s"] == "123"
    assert fields.get("budget_left") == shown


def _same_weights(a: Path, b: Path) -> bool:
    first, _, _ = load_checkpoint(a / "checkpoints" / "last.pt")
    second, _, _ = load_checkpoint(b / "checkpoints" / "last.pt")
    return all(
        torch.equal(first[part][k], second[part][k])
        for part in ("generator", "critic", "ema")
        for k in first[part]
    )


@pytest.mark.parametrize("second_press", [False, True])
def test_ctrl_c_inside_a_step_still_resumes_exactly(tmp_path, monkeypatch, capsys, second_press):
    """Ctrl-C lands inside a step (its critic updates done, the generator's not yet): the loop
    finishes the step, then saves. A second press stops at once and saves nothing of the
    half-done step: the last checkpoint stays. Either way the resumed run is the uninterrupted
    one, bit for bit (saving the half step made the generator differ by 0.04)."""
    import os
    import signal

    from gaunet.training.step import Stepper

    whole = tiny_train(tmp_path / "whole", steps=6, seed=3, checkpoint_every=2)
    original = Stepper.generator_step
    pressed = {"done": False}

    def generator_step(self, batch):
        if self.step == 3 and not pressed["done"]:
            pressed["done"] = True
            os.kill(os.getpid(), signal.SIGINT)  # arrives after this step's critic updates
            if second_press:
                os.kill(os.getpid(), signal.SIGINT)
        return original(self, batch)

    monkeypatch.setattr(Stepper, "generator_step", generator_step)
    run = tmp_path / "split"
    with pytest.raises(KeyboardInterrupt):
        tiny_train(run, steps=6, seed=3, checkpoint_every=2)
    monkeypatch.setattr(Stepper, "generator_step", original)
    state, _, _ = load_checkpoint(run / "checkpoints" / "last.pt")
    err = capsys.readouterr().err
    if second_press:
        assert state["step"] == 2 and "stopped inside a step, which is not saved" in err
    else:
        assert state["step"] == 4 and "stopping after this step" in err
    train(None, run, steps=6, resume=True, progress=False)
    assert _same_weights(whole, run)


def test_ctrl_c_while_the_last_sample_grid_is_drawn_saves_the_last_step(tmp_path, monkeypatch):
    original = Trainer._sample_grids

    def sample_grids(self):
        if self.step == 3:
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(Trainer, "_sample_grids", sample_grids)
    with pytest.raises(KeyboardInterrupt):
        tiny_train(tmp_path / "run", steps=3, checkpoint_every=100, sample_every=0)
    state, _, _ = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["step"] == 3  # was lost: the end's save ran after the interrupt's handler
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "interrupted"


def _resolved_as(monkeypatch, precision: str) -> None:
    """`precision: auto` resolving to `precision` from here on (as on another machine)."""
    import gaunet.training.step as step_module

    monkeypatch.setattr(
        step_module, "resolve_precision", lambda *a, **k: (precision, f"{precision}: here")
    )


def test_precision_auto_is_resolved_once_per_run(tmp_path, monkeypatch, capsys):
    """A run begun where `auto` means fp32 (a CPU without native bf16) and resumed where it
    means bf16 (a GPU, another CPU) continues in fp32, and says so."""
    _resolved_as(monkeypatch, "fp32")
    run = tiny_train(tmp_path / "run", steps=2, precision="auto")
    _resolved_as(monkeypatch, "bf16")
    train(None, run, steps=3, resume=True, progress=False)
    record = json.loads((run / "run.json").read_text())
    assert (
        record["precision"] == "fp32"
        and "as resolved when this run started" in (record["precision_reason"])
    )
    assert "note: fp32: precision auto as resolved when this run started" in capsys.readouterr().err


def test_a_bf16_run_resumed_on_a_cpu_without_it_warns_of_the_slowdown(tmp_path, monkeypatch):
    """Begun where `auto` meant bf16 (native), resumed on a CPU where it means fp32: the run
    stays in bf16, emulated there (5x slower seen), and says so; the reverse only notes it."""
    _resolved_as(monkeypatch, "bf16")
    run = tiny_train(tmp_path / "run", steps=2, precision="auto")
    _resolved_as(monkeypatch, "fp32")
    with pytest.warns(GaunetWarning, match="emulated and can be several times slower"):
        train(None, run, steps=3, resume=True, progress=False)
    assert json.loads((run / "run.json").read_text())["precision"] == "bf16"


def test_a_rollback_does_not_count_the_time_before_its_checkpoint_twice(tmp_path, monkeypatch):
    import time

    def pause(call: int) -> None:
        if call == 7:
            time.sleep(1.0)  # inside the wall time of step 8's checkpoint

    poison_generator_loss(monkeypatch, at=9, before=pause)  # after the checkpoints of 2..8
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = tiny_train(tmp_path / "run", steps=12, checkpoint_every=2, log_every=1)
    took = time.perf_counter() - started
    record = json.loads((run / "run.json").read_text())
    assert record["rollbacks"] == 1
    training = took - (record["startup_seconds"] or 0.0)  # the loop's own time
    assert record["wall_seconds"] <= training + 0.05  # was the checkpoint's seconds more


def test_a_run_leaves_the_processs_cudnn_setting_as_it_was(tmp_path, monkeypatch):
    """A run sets cudnn.benchmark for the whole process (on CUDA): the classifier cells a
    benchmark ran after its generators inherited it. It is restored when train() returns."""
    from gaunet.training import step

    def set_it(self):
        torch.backends.cudnn.benchmark = True  # as _set_up_device does on CUDA
        return torch.device("cpu")

    monkeypatch.setattr(step.Stepper, "_set_up_device", set_it)
    torch.backends.cudnn.benchmark = False
    train(PHANTOM, tmp_path / "run", overrides={**TINY}, steps=1, progress=False)
    assert torch.backends.cudnn.benchmark is False

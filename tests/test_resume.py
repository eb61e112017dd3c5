import json

import pytest
import torch
from train_helpers import tiny_train

from gaunet.errors import GaunetError
from gaunet.training import train
from gaunet.training.checkpoint import load_checkpoint


def _final(run):
    state, _, _ = load_checkpoint(run / "checkpoints" / "last.pt")
    return state


def test_resume_continues_exactly(tmp_path):
    """2N steps in one go == N steps, resume, N more steps (same seed, CPU)."""
    whole = _final(tiny_train(tmp_path / "whole", steps=14, seed=3))
    split_run = tiny_train(tmp_path / "split", steps=7, seed=3)
    train(None, split_run, steps=14, resume=True, progress=False)
    resumed = _final(split_run)
    assert resumed["step"] == whole["step"] == 14
    for part in ("generator", "critic", "ema"):
        for key, value in whole[part].items():
            torch.testing.assert_close(resumed[part][key], value, rtol=1e-5, atol=1e-6)
    info = json.loads((split_run / "run.json").read_text())
    assert info["resumed_from_step"] == 7 and info["steps"] == 14


def test_resume_needs_a_run_folder(tmp_path):
    with pytest.raises(GaunetError, match="not a run folder"):
        train(None, tmp_path / "nothing", steps=2, resume=True)


def test_resume_falls_back_when_last_checkpoint_is_truncated(tmp_path):
    run = tiny_train(tmp_path / "run", steps=20, periodic_every=10, checkpoint_every=10)
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:100])
    with pytest.warns(UserWarning, match="last.pt"):
        train(None, run, steps=21, resume=True, progress=False)
    assert json.loads((run / "run.json").read_text())["resumed_from_step"] == 20


def test_resume_logs_each_step_once(tmp_path):
    """A run killed after logging past its last checkpoint re-runs those steps on resume: the
    records it logged after the checkpoint (and a half-written line) are dropped, not doubled."""
    run = tiny_train(tmp_path / "run", steps=10, log_every=5, checkpoint_every=10)
    metrics = run / "metrics.jsonl"
    with open(metrics, "a") as handle:  # what a kill at step 17 would have left behind
        handle.write(json.dumps({"step": 15, "loss_d": 0.0}) + "\n" + '{"step": 1')
    train(None, run, steps=20, resume=True, progress=False)
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["step"] for r in records] == [5, 10, 15, 20]
    assert records[2]["loss_d"] != 0.0  # step 15 is the resumed run's record


@pytest.mark.parametrize(
    ("step", "kept"), [(0, []), (7, [5]), (10, [5, 10]), (99, [5, 10, 15, 20])]
)
def test_metrics_log_truncate_after(tmp_path, step, kept):
    from gaunet.training.run_folder import MetricsLog

    log = MetricsLog(tmp_path, tensorboard=False)
    for s in (5, 10, 15, 20):
        log.write({"step": s})
    with open(log.path, "a") as handle:
        handle.write('{"step": 2')  # cut short by a kill
    log.truncate_after(step)
    assert [json.loads(line)["step"] for line in log.path.read_text().splitlines()] == kept


@pytest.mark.parametrize(
    ("checkpoint_every", "periodic_every", "expected"),
    [(4, 3, [3, 6, 9]), (4, 6, [6]), (0, 4, [4, 8])],
)
def test_every_periodic_snapshot_is_written(tmp_path, checkpoint_every, periodic_every, expected):
    """Periodic snapshots (what --select-snapshot compares) land on every periodic_every step,
    also when checkpoint_every does not divide it."""
    run = tiny_train(
        tmp_path / "run",
        steps=10,
        checkpoint_every=checkpoint_every,
        periodic_every=periodic_every,
        keep_periodic=0,
    )
    steps = sorted(int(p.stem.split("-")[1]) for p in (run / "checkpoints").glob("step-*.pt"))
    assert steps == expected
    for step in steps:
        state, _, _ = load_checkpoint(run / "checkpoints" / f"step-{step:06d}.pt")
        assert state["step"] == step


@pytest.mark.parametrize(
    ("checkpoint_minutes", "saved_at_steps"),
    [(1e-9, [2, 4, 6, 8, 10]), (0, [10]), (60, [10])],
)
def test_checkpoint_minutes_saves_at_log_steps_between_step_checkpoints(
    tmp_path, monkeypatch, checkpoint_minutes, saved_at_steps
):
    """checkpoint_every 0: without checkpoint_minutes only the end writes last.pt, so a kill
    (which no handler sees) would lose the whole run; with it, every log step past the time
    writes one (each step here takes far more than 1e-9 minutes, far less than 60). The last
    step is saved once, by the end's save, also when it is due."""
    from gaunet.training import loop

    saved = []

    def recording_save(state, paths):
        saved.append(state["step"])
        return real_save(state, paths)

    real_save = loop.save_checkpoint
    monkeypatch.setattr(loop, "save_checkpoint", recording_save)
    run = tiny_train(
        tmp_path / "run",
        steps=10,
        log_every=2,
        checkpoint_every=0,
        periodic_every=0,
        checkpoint_minutes=checkpoint_minutes,
    )
    assert saved == saved_at_steps
    assert _final(run)["step"] == 10

"""MetricsLog.truncate_after (training/run_folder.py): a resumed or rolled-back run logs each
step once, in metrics.jsonl and in TensorBoard alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from gaunet.training.run_folder import MetricsLog

pytest.importorskip("tensorboard")


def _scalars(folder: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder / "tensorboard"))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_tensorboard_drops_the_steps_a_resume_runs_again(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path, tensorboard=True)
    for step in (5, 10, 15):  # killed after logging step 15, last checkpoint at step 10
        log.write({"step": step, "loss_d": float(step)})
    log.close()
    resumed = MetricsLog(tmp_path, tensorboard=True)
    assert resumed.truncate_after(10) == 1
    for step in (15, 20):
        resumed.write({"step": step, "loss_d": -float(step)})
    resumed.close()
    assert _scalars(tmp_path, "loss_d") == [(5, 5.0), (10, 10.0), (15, -15.0), (20, -20.0)]


def test_tensorboard_drops_the_steps_a_rollback_runs_again(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path, tensorboard=True)
    for step in (5, 10, 15):
        log.write({"step": step, "loss_d": float(step)})
    log.truncate_after(5)  # rolled back to the checkpoint of step 5, same writer
    log.write({"step": 10, "loss_d": -10.0})
    log.close()
    assert _scalars(tmp_path, "loss_d") == [(5, 5.0), (10, -10.0)]

"""benchmarks/run_pace.py: seconds per step and time left from a run's own log."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from train_helpers import tiny_train

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import run_pace  # noqa: E402


def _run(folder: Path, records: list[tuple[int, float]], target: int | None = 100) -> Path:
    folder.mkdir()
    lines = [json.dumps({"step": s, "elapsed_seconds": t, "loss_g": 1.0}) for s, t in records]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "run.json").write_text(json.dumps({"steps_target": target}))
    return folder


def test_the_last_intervals_and_the_time_left(tmp_path: Path) -> None:
    # 2 s/step, then one interval paused (SIGSTOP): the mean grows, the median does not
    records = [(10 * k, 20.0 * k) for k in range(6)] + [(60, 220.0)]
    figures = run_pace.pace(_run(tmp_path / "run", records), intervals=3)
    assert (figures["from"], figures["to"], figures["step"]) == (30, 60, 60)
    assert figures["seconds_per_step"] == pytest.approx((220 - 60) / 30)
    assert figures["median_seconds_per_step"] == pytest.approx(2.0)
    assert figures["hours_left"] == pytest.approx(40 * (160 / 30) / 3600)


def test_steps_logged_again_after_a_resume_replace_the_lost_ones(tmp_path: Path) -> None:
    """Killed at step 50 with its last checkpoint at 20: steps 30-50 are logged twice, and the
    second time (after the resume, on the checkpoint's clock) is the one counted."""
    first = [(10 * k, 5.0 * k) for k in range(6)]  # 0.5 s/step up to step 50
    again = [(30, 300.0), (40, 340.0), (50, 380.0)]  # 4 s/step after the resume
    run = _run(tmp_path / "run", first + again)
    assert run_pace.logged_steps(run / "metrics.jsonl")[2:] == [(20, 10.0), *again]
    figures = run_pace.pace(run, from_step=30)
    assert figures["seconds_per_step"] == pytest.approx(4.0)
    assert figures["median_seconds_per_step"] == pytest.approx(4.0)


def test_a_window_between_two_steps_and_a_run_without_a_target(tmp_path: Path) -> None:
    records = [(10 * k, 3.0 * 10 * k) for k in range(11)]
    run = _run(tmp_path / "run", records, target=None)
    figures = run_pace.pace(run, from_step=20, to_step=50)
    assert (figures["from"], figures["to"]) == (20, 50)
    assert figures["seconds_per_step"] == pytest.approx(3.0)
    assert figures["hours_left"] is None and "left" not in run_pace.line(figures)
    with pytest.raises(ValueError, match="fewer than two log records"):
        run_pace.pace(run, from_step=95)


def test_a_real_run(tmp_path: Path, capsys) -> None:
    """The product's own metrics.jsonl and run.json: the fields the script reads exist."""
    run = tiny_train(tmp_path / "run", steps=6, log_every=2)
    (text,) = run_pace.main([str(run)])
    assert capsys.readouterr().out.strip() == text
    assert text.startswith(f"{run}: step 6 of 6; steps 2-6: ") and "0.00 h left" in text


def test_a_run_too_young_is_named_and_the_others_still_measured(tmp_path: Path, capsys) -> None:
    young = _run(tmp_path / "young", [(0, 0.0)])
    older = _run(tmp_path / "older", [(0, 0.0), (10, 20.0)])
    lines = run_pace.main([str(young), str(older)])
    assert lines[0] == f"{young}: fewer than two log records in the window"
    assert lines[1].startswith(f"{older}: step 10 of 100; steps 0-10: 2.00 s/step")

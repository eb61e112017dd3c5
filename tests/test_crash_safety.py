"""SIGKILL at random moments, resume each time: the run must end with the same weights as one
that was never interrupted (CPU, same seed). A checkpoint is written every step, so many kills
land in the middle of a write."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from train_helpers import PHANTOM, TINY, tiny_train

from gaunet.training.checkpoint import load_checkpoint

KILLS = int(os.environ.get("GAUNET_CRASH_KILLS", "5"))  # raise for a longer stress run
STEPS = 8 * KILLS
FREQUENT = {"checkpoint_every": 1, "periodic_every": 3, "sample_every": 0}


def _command(out: Path, resume: bool) -> list[str]:
    settings = [f"--set={k}={v}" for k, v in {**TINY, **FREQUENT}.items()]
    source = [] if resume else ["--data", PHANTOM]
    flags = ["--resume"] if resume else []
    command = [sys.executable, "-m", "gaunet", "train", *source, "--out", str(out)]
    return [*command, "--steps", str(STEPS), "--seed", "5", "--quiet", *flags, *settings]


def _resumable(out: Path) -> bool:
    return (out / "config.yaml").exists() and (out / "train_images.npz").exists()


def _sidecar(out: Path) -> str:
    path = out / "checkpoints" / "last.pt.sha256"
    try:
        return path.read_text()
    except OSError:
        return ""


def _start(out: Path) -> subprocess.Popen:
    env = {**os.environ, "GAUNET_NO_PROGRESS": "1", "PYTHONWARNINGS": "default"}
    return subprocess.Popen(
        _command(out, _resumable(out)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_new_checkpoint(process: subprocess.Popen, out: Path) -> None:
    before, deadline = _sidecar(out), time.monotonic() + 60
    while _sidecar(out) in (before, "") and process.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError("training made no progress in 60 s")
        time.sleep(0.005)


def _kill(process: subprocess.Popen, out: Path, rng: random.Random, first: bool) -> str | None:
    """SIGKILL the process at a random moment: the first time anywhere from start-up on, later
    within three steps after it has written two checkpoints (timed on this machine, so the kill
    lands mid-training at any speed). Its output, or None if it finished first."""
    if first:
        time.sleep(rng.uniform(0.0, 1.5))
    else:
        _wait_for_new_checkpoint(process, out)
        started = time.monotonic()
        _wait_for_new_checkpoint(process, out)
        time.sleep(rng.uniform(0.0, 3.0) * (time.monotonic() - started))
    if process.poll() is not None:
        return None
    os.kill(process.pid, signal.SIGKILL)
    return process.communicate()[0]


def test_sigkill_at_random_moments_then_resume_matches_uninterrupted(tmp_path):
    rng = random.Random(2024)
    out = tmp_path / "killed"
    steps_at_kill, leftovers, fallbacks = [], 0, 0
    for kill in range(KILLS):
        output = _kill(_start(out), out, rng, first=kill == 0)
        if output is None:
            break
        fallbacks += output.count("skipped unusable checkpoint")
        folder = out / "checkpoints"
        leftovers += len(list(folder.glob(".*.tmp*"))) if folder.exists() else 0
        info = out / "run.json"
        steps_at_kill.append(json.loads(info.read_text())["steps"] if info.exists() else None)
    finish = subprocess.run(
        _command(out, _resumable(out)),
        env={**os.environ, "GAUNET_NO_PROGRESS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finish.returncode == 0, finish.stderr[-2000:]
    fallbacks += finish.stderr.count("skipped unusable checkpoint")
    assert len(steps_at_kill) >= KILLS - 1, "the run finished before it could be killed"
    assert not list((out / "checkpoints").glob(".*.tmp*")), "stale temporary files left"
    print(f"steps at kills {steps_at_kill}; temporaries left {leftovers}; fallbacks {fallbacks}")

    whole = tiny_train(tmp_path / "whole", steps=STEPS, seed=5, **FREQUENT)
    expected, _, _ = load_checkpoint(whole / "checkpoints" / "last.pt")
    resumed, _, _ = load_checkpoint(out / "checkpoints" / "last.pt")
    assert resumed["step"] == expected["step"] == STEPS
    for part in ("generator", "critic", "ema"):
        for key, value in expected[part].items():
            torch.testing.assert_close(resumed[part][key], value, rtol=1e-5, atol=1e-6)
    for group_resumed, group_whole in zip(
        resumed["opt_g"]["state"].values(), expected["opt_g"]["state"].values()
    ):
        torch.testing.assert_close(group_resumed["exp_avg"], group_whole["exp_avg"])


class _Crash(Exception):
    pass


def test_crash_between_data_and_sidecar_leaves_a_loadable_newest_file(tmp_path, monkeypatch):
    """The data file is renamed into place before its sidecar; a crash in between must not pair
    the new data with the old digest (which would reject a good file)."""
    from gaunet.training import checkpoint

    path = tmp_path / "last.pt"
    checkpoint.save_checkpoint({"step": 1, "w": torch.zeros(2)}, [path])
    original = checkpoint._atomic_write

    def crash_on_sidecar(target: Path, data: bytes) -> None:
        if target.name.endswith(".sha256"):
            (target.parent / f".{target.name}.tmp999").write_bytes(data[:5])
            raise _Crash
        original(target, data)

    monkeypatch.setattr(checkpoint, "_atomic_write", crash_on_sidecar)
    try:
        checkpoint.save_checkpoint({"step": 2, "w": torch.ones(2)}, [path])
    except _Crash:
        pass
    monkeypatch.undo()
    state, loaded, _ = load_checkpoint(tmp_path)  # no warning, no fallback needed
    assert state["step"] == 2 and loaded == path
    checkpoint.save_checkpoint({"step": 3, "w": torch.ones(2)}, [path])
    assert not list(tmp_path.glob(".*.tmp*"))  # the crashed writer's temporary is cleaned up

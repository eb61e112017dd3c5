"""`gaunet benchmark --subset-seeds --jobs N` (downstream/subset_runs.py): Ctrl-C or SIGTERM
stops it.

The results of folders run at once are checked in test_pooled.py, their relayed bars in
test_progress.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from train_helpers import TINY

from gaunet.interrupts import default_sigint


def _started(folder: Path) -> bool:
    """Whether the folder's generator has written a checkpoint: its process is mid-training."""
    return any(folder.glob("generators/*/checkpoints/last.pt"))


@pytest.mark.parametrize(
    "sent, to_group, code",
    [(signal.SIGINT, True, 130), (signal.SIGTERM, True, 143), (signal.SIGTERM, False, 143)],
    ids=["ctrl-c", "sigterm-to-group", "sigterm-to-parent"],
)
def test_a_stop_ends_the_running_folders_and_starts_no_other(
    tmp_path: Path, sent: signal.Signals, to_group: bool, code: int
) -> None:
    """Three subsets, two at once, Ctrl-C (or a scheduler's SIGTERM) to the process group while
    the first two train their generators: both save and stop, the third never starts (it used
    to wait in the pool and run after), and the command ends as interrupted. A SIGTERM to the
    parent alone (`kill PID`, `docker stop`) is passed on (the workers ran to their end); sent to
    the group, each worker gets it twice (directly and passed on) and still saves once. A rerun
    continues (test_gpu_train_check.py)."""
    config = tmp_path / "gen.yaml"
    config.write_text(
        yaml.safe_dump({**TINY, "precision": "fp32", "checkpoint_every": 2, "log_every": 2})
    )
    out = tmp_path / "bench"
    command = [
        sys.executable, "-m", "gaunet", "benchmark", "--data", "phantom:n=40", "--size", "16",
        "--arms", "gaunet", "--classifiers", "svm", "--fractions", "0.5", "--seeds", "1",
        "--gen-config", str(config), "--gen-steps", "100000", "--subset-seeds", "0,1,2",
        "--jobs", "2", "--out", str(out),
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key != "GAUNET_NO_PROGRESS"}
    process = subprocess.Popen(  # its own group, as a terminal's Ctrl-C reaches every process
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, preexec_fn=default_sigint,  # as a terminal has it
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (_started(out / "subset-0") and _started(out / "subset-1")):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the generators did not start in 120 s"
            time.sleep(0.1)
        if to_group:
            os.killpg(process.pid, sent)
        else:
            os.kill(process.pid, sent)
        output = process.communicate(timeout=120)[0]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == code, output
    how = "terminated (SIGTERM)" if sent == signal.SIGTERM else "interrupted"
    assert f"{how}: checkpoint saved at step" in output  # the generators' own lines,
    assert "continue with: rerun the same gaunet benchmark command" in output  # not train's
    assert "gaunet train --out" not in output
    assert f"{how}: rerun the same command to continue" in output
    assert not (out / "subset-2").exists(), "a waiting folder started after Ctrl-C"
    for seed in (0, 1):
        (run,) = (out / f"subset-{seed}" / "generators").glob("*/run.json")
        info = json.loads(run.read_text())
        assert info["status"] == "interrupted" and 0 < info["steps"] < 100000

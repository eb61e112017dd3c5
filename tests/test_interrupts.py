"""SIGTERM handled as Ctrl-C (gaunet/interrupts.py): what a scheduler's time limit, `timeout`
or `docker stop` sends saves the run instead of killing it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from train_helpers import PHANTOM, TINY

from gaunet.interrupts import Terminated, exit_code, sigterm_as_interrupt


def test_sigterm_raises_terminated_inside_and_not_after() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler runs at the next bytecode: never reached
    assert signal.getsignal(signal.SIGTERM) is before


def test_torchrun_ranks_keep_sigterm_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under torchrun the agent stops the ranks with SIGTERM; a rank must not wait to save."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    before = signal.getsignal(signal.SIGTERM)
    with sigterm_as_interrupt():
        assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("stop, code", [(Terminated(), 143), (KeyboardInterrupt(), 130)])
def test_exit_codes_follow_the_shell(stop: KeyboardInterrupt, code: int) -> None:
    assert exit_code(stop) == code


def test_sigterm_saves_a_training_run(tmp_path: Path) -> None:
    """`gaunet train` sent SIGTERM mid-run: it saves a checkpoint, says how to continue and
    exits 143, as Ctrl-C would with 130."""
    out = tmp_path / "run"
    settings = [f"--set={k}={v}" for k, v in {**TINY, "checkpoint_every": 1}.items()]
    command = [sys.executable, "-m", "gaunet", "train", "--data", PHANTOM, "--out", str(out),
               "--steps", "100000", "--quiet", *settings]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoints" / "last.pt").exists():
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "no checkpoint in 120 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=120)[0]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, output
    assert "terminated (SIGTERM): checkpoint saved at step" in output and "--resume" in output
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "interrupted" and 0 < info["steps"] < 100000


def test_default_sigint_gives_a_child_of_a_background_job_its_ctrl_c() -> None:
    """A background job starts with SIGINT ignored and its Python children keep ignoring it;
    started through default_sigint, the child has Python's KeyboardInterrupt handler."""
    from gaunet.interrupts import default_sigint

    probe = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in `make test &`
    try:
        plain, fixed = [
            subprocess.run(
                [sys.executable, "-c", probe], capture_output=True, text=True, **kw
            ).stdout.strip()
            for kw in ({}, {"preexec_fn": default_sigint})
        ]
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (plain, fixed) == ("False", "True")

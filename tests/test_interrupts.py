"""SIGTERM handled as Ctrl-C (gaunet/interrupts.py): what a scheduler's time limit, `timeout`
or `docker stop` sends saves the run instead of killing it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
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


_WORKER_PROBE = """
import os, signal, sys, time
from gaunet.interrupts import Terminated, deferred_interrupts, raise_on_sigterm

def send(*signums):
    for signum in signums:
        os.kill(os.getpid(), signum)
    time.sleep(0.2)  # the handlers run here, in order of signal number

raise_on_sigterm()
seen = []
inside = {inside}
try:
    if inside:
        with deferred_interrupts():
            send({first}, {second})
            seen.append("finished the step")
    else:
        send({first}, {second})
        seen.append("not raised")
except KeyboardInterrupt as stop:
    seen.append(type(stop).__name__)
    try:
        send({second})  # a late copy of the stop, during the save
        seen.append("saved")
    except KeyboardInterrupt as again:
        seen.append("save cut by " + type(again).__name__)
print(" | ".join(seen))
"""


@pytest.mark.parametrize(
    "first, second, inside, expected",
    [
        # the group's SIGTERM and the parent's forwarded one (SIGUSR1): one stop, saved
        ("SIGTERM", "SIGUSR1", False, "Terminated | saved"),
        ("SIGTERM", "SIGUSR1", True, "finished the step | Terminated | saved"),
        # the terminal's Ctrl-C and the parent's forwarded Ctrl-C (SIGUSR2)
        ("SIGINT", "SIGUSR2", False, "KeyboardInterrupt | saved"),
        ("SIGINT", "SIGUSR2", True, "finished the step | KeyboardInterrupt | saved"),
        # the forwarded stop handled first: the direct SIGTERM is the copy
        ("SIGUSR1", "SIGTERM", True, "finished the step | Terminated | saved"),
        ("SIGUSR2", "SIGTERM", False, "KeyboardInterrupt | saved"),
        # a second Ctrl-C still means "now": the step is cut
        ("SIGINT", "SIGINT", True, "KeyboardInterrupt | save cut by KeyboardInterrupt"),
        # a second SIGTERM cuts the step as SIGTERM (exit 143), not as a Ctrl-C (130)
        ("SIGTERM", "SIGTERM", True, "Terminated | saved"),
    ],
)
def test_a_worker_stops_once_when_a_stop_reaches_it_twice(
    first: str, second: str, inside: bool, expected: str
) -> None:
    """A stop sent to a process group reaches a `--subset-seeds --jobs` worker directly and
    again through its parent (forward_stop): the copy must not count as the second Ctrl-C that
    cuts a training step or a save short."""
    code = _WORKER_PROBE.format(first=f"signal.{first}", second=f"signal.{second}", inside=inside)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == expected, result.stderr


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no signal masks (Windows)")
def test_a_ctrl_c_while_held_is_delivered_when_the_hold_ends() -> None:
    from gaunet.interrupts import sigint_held

    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    reached_the_end_of_the_block = False
    with pytest.raises(KeyboardInterrupt):
        with sigint_held():
            # to this thread: a process-directed signal may be taken by another thread that
            # earlier tests left running, which raises it here at once, as before the hold
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            time.sleep(0.05)
            reached_the_end_of_the_block = True
    assert reached_the_end_of_the_block
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before


def test_a_second_sigterm_inside_a_deferred_step_is_still_sigterm() -> None:
    """The command's own SIGTERM handling (not a worker's): the first SIGTERM waits for the
    step, a second stops at once, and the exit code stays SIGTERM's 143."""
    from gaunet.interrupts import deferred_interrupts

    with pytest.raises(KeyboardInterrupt) as stop, sigterm_as_interrupt():
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # cut here by the second
    assert isinstance(stop.value, Terminated) and exit_code(stop.value) == 143

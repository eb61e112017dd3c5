"""SIGTERM handled as Ctrl-C.

A scheduler's time limit (SLURM), `timeout`, `docker stop` and `kill` send SIGTERM, and Python's
default for it is to die on the spot: a training run loses every step since its last checkpoint,
a benchmark its running cells. Raised as `Terminated` (a KeyboardInterrupt), it takes Ctrl-C's
path instead: the run saves, says how to continue, and the command exits 143 (128 + SIGTERM).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be: every handler of that runs."""


def stopped_by(stop: KeyboardInterrupt) -> str:
    """How a command's stop line names what stopped it: a scheduler's SIGTERM is not the
    user's Ctrl-C."""
    return "terminated (SIGTERM)" if isinstance(stop, Terminated) else "interrupted"


def exit_code(stop: KeyboardInterrupt) -> int:
    """The shell's code for the signal that stopped the command: 143 for SIGTERM, 130 for
    Ctrl-C."""
    return 128 + signal.SIGTERM if isinstance(stop, Terminated) else 130


@contextmanager
def said_on_interrupt(advice: str) -> Iterator[None]:
    """Ctrl-C or SIGTERM inside the block: one line, what stopped it and `advice` (how to
    continue), then the interrupt goes on to the command's exit code."""
    try:
        yield
    except KeyboardInterrupt as stop:
        print(f"{stopped_by(stop)}: {advice}", file=sys.stderr)
        raise


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated("SIGTERM")


def _distributed() -> bool:
    """Under torchrun, whose agent stops the other ranks with SIGTERM when one fails: a rank
    that then saved would wait on collectives of ranks that are gone, so SIGTERM stays fatal."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside this block SIGTERM raises Terminated in the main thread (the previous handler is
    restored after: the CLI's main() may run inside another program)."""
    if threading.current_thread() is not threading.main_thread() or _distributed():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def raise_on_sigterm() -> None:
    """In a spawned worker process, for its lifetime: SIGTERM raises Terminated there too, so
    a scheduler's signal to the whole process group lets every worker save."""
    if not _distributed():
        signal.signal(signal.SIGTERM, _raise_terminated)


def default_sigint() -> None:
    """For `subprocess.Popen(preexec_fn=...)` when the parent sends the child SIGINT to stop
    it: SIGINT back to its default before the child starts. A shell's background job (`... &`)
    starts with SIGINT ignored, a Python started so keeps ignoring it, and the child then ran on
    instead of saving and stopping."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def deferred_interrupts(notice: str = "") -> Iterator[None]:
    """Inside this block Ctrl-C (and SIGTERM where `sigterm_as_interrupt` applies) waits for
    its end, then raises as usual: a training step stopped half-way would leave some critic
    updates done and the step counter behind them, and a resume from there is not the run it
    continues. A second Ctrl-C raises at once (the caller then keeps its last checkpoint).
    `notice` is printed at the first signal. Not deferred outside the main thread or under
    torchrun (whose agent stops ranks with signals)."""
    if threading.current_thread() is not threading.main_thread() or _distributed():
        yield
        return
    caught: list[int] = []

    def defer(signum: int, frame: FrameType | None) -> None:
        if caught:
            raise KeyboardInterrupt
        caught.append(signum)
        if notice:
            print(notice, file=sys.stderr, flush=True)

    previous = {signal.SIGINT: signal.getsignal(signal.SIGINT)}
    if signal.getsignal(signal.SIGTERM) is _raise_terminated:
        previous[signal.SIGTERM] = _raise_terminated
    if previous[signal.SIGINT] is not signal.default_int_handler:
        previous.pop(signal.SIGINT)  # SIGINT ignored (a background job) or handled elsewhere
    for signum in previous:
        signal.signal(signum, defer)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if caught:
        raise Terminated("SIGTERM") if caught[0] == signal.SIGTERM else KeyboardInterrupt

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
from collections.abc import Callable, Iterator
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


# A worker's stop forwarded by its parent (forward_stop): SIGUSR1 for the parent's SIGTERM,
# SIGUSR2 for its Ctrl-C. Not SIGTERM itself: a stop sent to the whole group reaches a worker
# twice (directly and forwarded), and a second SIGTERM or Ctrl-C means "stop now, do not save".
_FORWARDED = {
    getattr(signal, name): stop
    for name, stop in (("SIGUSR1", Terminated), ("SIGUSR2", KeyboardInterrupt))
    if hasattr(signal, name)
}
_worker_stopping = False  # in a worker: a stop has been raised (later forwarded ones are it)


def _worker_stop(signum: int, frame: FrameType | None) -> None:
    """A worker's SIGTERM or its parent's forwarded stop: the first raises, a later one is the
    same stop arriving by the other way and is dropped."""
    global _worker_stopping
    if _worker_stopping:
        return
    _worker_stopping = True
    raise _FORWARDED.get(signum, Terminated)("SIGTERM" if signum == signal.SIGTERM else "stop")


def _worker_interrupt(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C in a worker: raises every time (a second one still stops at once), and marks the
    worker stopping, so the parent's forwarded stop that follows is dropped."""
    global _worker_stopping
    _worker_stopping = True
    raise KeyboardInterrupt


def raise_on_sigterm() -> None:
    """In a spawned worker process, for its lifetime: SIGTERM raises Terminated there too, so
    a scheduler's signal to the whole process group lets every worker save; a stop its parent
    forwards (forward_stop) does the same, once."""
    if _distributed():
        return
    for signum in (signal.SIGTERM, *_FORWARDED):
        signal.signal(signum, _worker_stop)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _worker_interrupt)


def forward_stop(pids: list[int], stop: KeyboardInterrupt) -> None:
    """The parent's Ctrl-C or SIGTERM, passed on to its workers (started with raise_on_sigterm):
    `kill PID` or `docker stop` reach the parent alone, and its workers ran on to their end. A
    worker the terminal's Ctrl-C reached as well stops once."""
    wanted = Terminated if isinstance(stop, Terminated) else KeyboardInterrupt
    signum = next((n for n, kind in _FORWARDED.items() if kind is wanted), None)
    if signum is None:  # no SIGUSR1 (Windows): the workers run to their end, as before
        return
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass  # ended meanwhile


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
    continues. A second Ctrl-C raises at once (the caller then keeps its last checkpoint); a
    second SIGTERM raises Terminated, so the command still exits 143.
    `notice` is printed at the first signal. Not deferred outside the main thread or under
    torchrun (whose agent stops ranks with signals)."""
    if threading.current_thread() is not threading.main_thread() or _distributed():
        yield
        return
    caught: list[int] = []

    def defer(signum: int, frame: FrameType | None) -> None:
        global _worker_stopping
        if caught:
            if previous[signum] is _worker_stop and signum != caught[0]:
                return  # a worker's stop arriving the other way (forwarded or direct)
            if signum == signal.SIGTERM or _FORWARDED.get(signum) is Terminated:
                raise Terminated("SIGTERM")  # exits 143 as SIGTERM's, not Ctrl-C's 130
            raise KeyboardInterrupt
        if previous[signum] in (_worker_stop, _worker_interrupt):
            _worker_stopping = True
        caught.append(signum)
        if notice:
            print(notice, file=sys.stderr, flush=True)

    previous = {signal.SIGINT: signal.getsignal(signal.SIGINT)}
    for signum in (signal.SIGTERM, *_FORWARDED):
        if signal.getsignal(signum) in (_raise_terminated, _worker_stop):
            previous[signum] = signal.getsignal(signum)
    if previous[signal.SIGINT] not in (signal.default_int_handler, _worker_interrupt):
        previous.pop(signal.SIGINT)  # SIGINT ignored (a background job) or handled elsewhere
    for signum in previous:
        signal.signal(signum, defer)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if caught:
        kind = Terminated if caught[0] == signal.SIGTERM else _FORWARDED.get(caught[0])
        raise (kind or KeyboardInterrupt)("SIGTERM" if kind is Terminated else "")


@contextmanager
def noted_interrupts() -> Iterator[Callable[[], bool]]:
    """Under torchrun: inside the block Ctrl-C (SIGINT) is only noted, never raised, and the
    block yields whether one came. The terminal's Ctrl-C reaches every rank, and torchrun's
    agent forwards it too, each at its own moment: a rank that stopped on its own would wait in
    a collective the others never reach, so the ranks agree on the step to stop at (RunLoop)
    and stop there together, saving it. Repeats are the same stop (the agent's SIGKILL, 30 s
    on, is the hard stop). SIGTERM stays fatal there: the agent sends it when a rank failed.
    The notice is printed by each machine's first process (LOCAL_RANK 0) alone: every rank
    printed it, one line per process for one Ctrl-C.
    Elsewhere the block changes nothing and yields a function that says False."""
    if threading.current_thread() is not threading.main_thread() or not _distributed():
        yield lambda: False
        return
    caught: list[int] = []
    says = os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")) == "0"

    def note(signum: int, frame: FrameType | None) -> None:
        if not caught and says:
            print(AGREED_STOP, file=sys.stderr, flush=True)
        caught.append(signum)

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield lambda: bool(caught)
    finally:
        signal.signal(signal.SIGINT, previous)


AGREED_STOP = "stopping: every process stops at the same step and the run saves it"


@contextmanager
def sigint_held() -> Iterator[None]:
    """SIGINT blocked inside the block; processes started in it inherit the block for good. A
    terminal's Ctrl-C then reaches only this process, which stops them itself, and not children
    half-way through importing torch (each printed a traceback). A Ctrl-C pressed meanwhile is
    raised when the block ends (at once where another thread of this process, started before,
    takes it), so none is lost. No-op off the main thread or where signals cannot be blocked
    (Windows)."""
    if (
        not hasattr(signal, "pthread_sigmask")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)

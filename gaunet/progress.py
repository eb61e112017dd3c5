"""One progress-bar style for every long job: step/total, rate, ETA, and live numbers.

A worker process (`gaunet benchmark --subset-seeds --jobs N`) does not draw its bars: they
would garble the parent's. With `relay_bars`, each of its bars sends its state to the parent,
which shows every worker's latest state in its own bar (`WorkerBars`): hours of generator
training in a worker are not a silent "0/5 subsets".

A job stopped and continued (Ctrl-Z then `fg`, `kill -STOP`/`-CONT`) would otherwise fold the
whole pause into the bar's smoothed rate: its ETA read hours too long for a dozen updates. On
SIGCONT, every live bar drops the one interval that holds the pause (`_skip_paused_interval`).
"""

from __future__ import annotations

import math
import os
import queue as queue_module
import signal
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NamedTuple

from tqdm.auto import tqdm
from tqdm.std import EMA
from tqdm.std import tqdm as plain_tqdm

_silenced = 0  # > 0 inside `silenced()`: every bar is off (`--quiet`)
_relay: tuple[Any, str] | None = None  # in a worker: (queue, label) its bars report to
RELAY_SECONDS = 2.0  # a relayed bar sends at most this often (and always when it ends)
_live_bars: weakref.WeakSet = weakref.WeakSet()  # bars progress() made, for SIGCONT
_sigcont_watched = False


@contextmanager
def silenced() -> Iterator[None]:
    """No progress bar at all inside this block (what `--quiet` means), whoever draws it."""
    global _silenced
    _silenced += 1
    try:
        yield
    finally:
        _silenced -= 1


def progress(
    iterable: Iterable[Any] | None = None,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    initial: int = 0,
    leave: bool = True,
    disable: bool = False,
) -> tqdm:
    """A tqdm bar on stderr; off with `disable`, inside `silenced()`, or with
    GAUNET_NO_PROGRESS=1 (tests, logs). A disabled bar prints nothing, not even its start."""
    disable = disable or _silenced > 0 or os.environ.get("GAUNET_NO_PROGRESS", "") == "1"
    if disable:
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, disable=True)
    _watch_sigcont()
    if _relay is not None:
        bar = _RelayedBar(
            iterable, relay=_relay, total=total, desc=desc, unit=unit, initial=initial
        )
        _live_bars.add(bar)
        return bar
    bar = tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        initial=initial,
        leave=leave,
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5,
    )
    _live_bars.add(bar)
    return bar


class _SkipNext:
    """A bar's moving average (tqdm's EMA of steps or of seconds between draws) that ignores
    the next value it is given: the interval a stop-and-continue fell into."""

    def __init__(self, average: EMA) -> None:
        self.average = average
        self.skip = True

    def __call__(self, value: float | None = None) -> float:
        if value is not None and self.skip:
            self.skip = False
            value = None
        return self.average(value)


def _skip_paused_interval(bar: plain_tqdm) -> None:
    """The bar's next interval (steps and seconds alike) stays out of its rate."""
    for name in ("_ema_dn", "_ema_dt"):
        average = getattr(bar, name, None)
        if isinstance(average, _SkipNext):
            average.skip = True
        elif isinstance(average, EMA):  # not a closed bar's `lambda: None` (its overall rate)
            setattr(bar, name, _SkipNext(average))


def _on_sigcont(signum: int, frame: FrameType | None) -> None:
    for bar in list(_live_bars):
        _skip_paused_interval(bar)


def _watch_sigcont() -> None:
    """Handle SIGCONT once per process, from the main thread, where nobody else does (a
    program that embeds gaunet and handles SIGCONT itself keeps its handler)."""
    global _sigcont_watched
    sigcont = getattr(signal, "SIGCONT", None)  # not on Windows
    if _sigcont_watched or sigcont is None:
        return
    if threading.current_thread() is not threading.main_thread():
        return
    _sigcont_watched = True
    if signal.getsignal(sigcont) == signal.SIG_DFL:
        signal.signal(sigcont, _on_sigcont)


class BarState(NamedTuple):
    """What a relayed bar last showed: enough for a line with its rate and time left."""

    label: str  # the worker's task, e.g. "subset 3"
    desc: str
    n: int
    total: int | None
    unit: str
    rate: float | None  # units per second; None before the first

    def describe(self) -> str:
        """e.g. "subset 3: train 1200/5352 step (0.66 step/s, 1:44:50 left)"."""
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        text = f"{self.label}: {self.desc} {count} {self.unit}".replace("  ", " ")
        if not self.rate:
            return text
        text += f" ({self.rate:.3g} {self.unit}/s"
        if self.total and self.n < self.total:
            text += f", {plain_tqdm.format_interval((self.total - self.n) / self.rate)} left"
        return text + ")"


def relay_bars(queue: Any, label: str) -> None:
    """In a worker process: from now on its bars are not drawn; each sends a BarState to `queue`
    (a manager's queue the parent reads with WorkerBars), labelled `label`."""
    global _relay
    _relay = (queue, label)


class _RelayedBar(plain_tqdm):
    """A bar that sends its state instead of drawing itself (relay_bars)."""

    def __init__(self, *args: Any, relay: tuple[Any, str], **kwargs: Any) -> None:
        self._relay_to = relay
        self._sent_at = -math.inf
        super().__init__(*args, file=_Nowhere(), mininterval=0.5, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        now = time.monotonic()
        ended = self.total is not None and self.n >= self.total
        if now - self._sent_at < RELAY_SECONDS and not ended:
            return True
        self._sent_at = now
        queue, label = self._relay_to
        info = self.format_dict
        rate = info.get("rate")
        if rate is None and info["elapsed"] > 0 and self.n > self.initial:
            rate = (self.n - self.initial) / info["elapsed"]
        state = BarState(label, self.desc.rstrip(": "), self.n, self.total, self.unit, rate)
        try:
            queue.put_nowait(state)
        except Exception:  # noqa: BLE001 - the parent stopped listening: the work goes on
            pass
        return True


class _Nowhere:
    """A relayed bar's file: it never draws."""

    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


class WorkerBars:
    """The parent's side of relay_bars: the latest BarState of each worker's task."""

    def __init__(self, queue: Any | None) -> None:
        self.queue = queue
        self.latest: dict[str, BarState] = {}

    def poll(self) -> None:
        """Take every state sent so far, without waiting (none without a queue: bars off)."""
        while self.queue is not None:
            try:
                state = self.queue.get_nowait()
            except (queue_module.Empty, EOFError, OSError, ValueError):  # none, or no manager
                return
            self.latest[state.label] = state

    def pop(self, label: str) -> BarState | None:
        """A finished task's last state, no longer shown."""
        return self.latest.pop(label, None)

    def line(self) -> str:
        """Every running task's state, for the parent bar's postfix."""
        return " | ".join(state.describe() for state in self.latest.values())

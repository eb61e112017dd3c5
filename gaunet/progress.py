"""One progress-bar style for every long job: step/total, rate, ETA, and live numbers."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

_silenced = 0  # > 0 inside `silenced()`: every bar is off (`--quiet`)


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
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        initial=initial,
        leave=leave,
        file=sys.stderr,
        dynamic_ncols=True,
        disable=disable,
        mininterval=0.5,
    )

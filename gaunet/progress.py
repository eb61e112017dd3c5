"""One progress-bar style for every long job: step/total, rate, ETA, and live numbers."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress(
    iterable: Iterable[Any] | None = None,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    initial: int = 0,
    leave: bool = True,
) -> tqdm:
    """A tqdm bar on stderr; GAUNET_NO_PROGRESS=1 silences it (tests, logs)."""
    disable = os.environ.get("GAUNET_NO_PROGRESS", "") == "1"
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

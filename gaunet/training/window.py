"""The loop's log window: per-step stats summed on the device (no host sync), read once per
log interval, and the progress bar's fields."""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from gaunet.training.distributed import Distributed


class LogWindow:
    """Stats summed since the last log line, the steps they cover, and when the window began
    (for the image rate; a rollback empties the window but keeps its start)."""

    def __init__(self) -> None:
        self.totals: dict[str, torch.Tensor] = {}
        self.steps = 0
        self.start = time.perf_counter()

    def clear(self) -> None:
        self.totals, self.steps = {}, 0

    def close(self, dist: Distributed) -> tuple[dict[str, float], int, float]:
        """(the window's means, its steps, the time it closed), and an empty window."""
        now = time.perf_counter()
        record, steps = summary(self.totals, self.steps, dist), self.steps
        self.clear()
        return record, steps, now


def accumulate(totals: dict[str, torch.Tensor], stats: dict[str, torch.Tensor], w: float) -> None:
    for key, value in stats.items():
        totals[key] = totals[key] + value.float() * w if key in totals else value.float() * w


def summary(totals: dict[str, torch.Tensor], steps: int, dist: Distributed) -> dict[str, float]:
    """Means over the log window (and the processes); the only host sync of the loop."""
    if not totals:
        return {}
    stacked = dist.mean(torch.stack(list(totals.values()))).cpu().tolist()
    return {k: v / max(steps, 1) for k, v in zip(totals, stacked)}


def postfix(record: dict[str, float], seconds_left: float) -> dict[str, str]:
    """Progress-bar fields; a --minutes budget adds its countdown, since the bar's own ETA
    counts steps, not the budget."""
    fields = {
        "d": f"{record['loss_d']:.3f}",
        "g": f"{record['loss_g']:.3f}",
        "img_s": f"{record['images_per_second']:.0f}",
    }
    if seconds_left != math.inf:
        left = max(seconds_left, 0.0)
        fields["budget_left"] = f"{int(left // 60)}:{int(left % 60):02d}"
    return fields


def cpu_copy(state: Any) -> Any:
    """A deep copy of a (nested) state with every tensor cloned to the CPU."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: cpu_copy(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(cpu_copy(v) for v in state)
    return state

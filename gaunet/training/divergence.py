"""Divergence handling: how the trainer notices non-finite losses and how it backs off.

Every step's losses are added into the log window's running totals on the device, so one
non-finite value in any step makes the totals non-finite (NaN and inf propagate through sums):
no step escapes the check, yet the host reads the totals only at log intervals, before every
checkpoint and at the end of the budget, never once per step. A rollback then restores the last
good checkpoint and retries with learning rates lowered by `LR_FACTOR` per rollback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

LR_FACTOR = 0.5  # each rollback halves both learning rates


def floating_tensors(state: Any) -> Iterator[torch.Tensor]:
    """Every floating tensor inside a (nested) state: dicts, lists, tuples, tensors."""
    if isinstance(state, torch.Tensor):
        if state.is_floating_point():
            yield state
    elif isinstance(state, dict):
        for value in state.values():
            yield from floating_tensors(value)
    elif isinstance(state, (list, tuple)):
        for value in state:
            yield from floating_tensors(value)


def finite_flags(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per device, one 0-d bool tensor: whether all of `tensors` there are finite (computed on
    the device; reading each is one host sync per device, not one per tensor)."""
    devices: dict[torch.device, list[torch.Tensor]] = {}
    for tensor in tensors:
        devices.setdefault(tensor.device, []).append(torch.isfinite(tensor).all())
    return [torch.stack(flags).all() for flags in devices.values()]


def window_finite(
    totals: dict[str, torch.Tensor],
    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
    optimizers: tuple[torch.optim.Optimizer, ...] = (),
) -> bool:
    """True when every loss accumulated since the last check is finite (one host sync).
    `reduce` (an all-reduce mean across processes) makes every process reach the same answer.
    `optimizers`: their moments are checked too, in the same sync (checked before checkpoints:
    a squared gradient overflowing to inf froze its weight silently, every loss finite)."""
    values = [v.detach().float().reshape(-1) for v in totals.values()]
    for finite in finite_flags(list(floating_tensors([opt.state for opt in optimizers]))):
        values.append(torch.where(finite, 0.0, torch.inf).reshape(1))  # inf: not all finite
    if not values:
        return True
    joined = torch.cat([v.to(values[0].device) for v in values])
    return bool(torch.isfinite(reduce(joined) if reduce else joined).all())


def backed_off_lr(base_lr: float, rollbacks: int) -> float:
    """The learning rate after `rollbacks` rollbacks: the configured rate times LR_FACTOR**n,
    so repeated rollbacks to the same checkpoint keep lowering it."""
    return base_lr * LR_FACTOR**rollbacks


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr

"""Divergence handling: how the trainer notices non-finite losses and how it backs off.

Every step's losses are added into the log window's running totals on the device, so one
non-finite value in any step makes the totals non-finite (NaN and inf propagate through sums):
no step escapes the check, yet the host reads the totals only at log intervals, before every
checkpoint and at the end of the budget, never once per step. A rollback then restores the last
good checkpoint and retries with learning rates lowered by `LR_FACTOR` per rollback.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

LR_FACTOR = 0.5  # each rollback halves both learning rates


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
    moments = [t for opt in optimizers for state in opt.state.values() for t in state.values()]
    moments = [t for t in moments if isinstance(t, torch.Tensor) and t.is_floating_point()]
    if moments:
        finite = torch.stack([torch.isfinite(t).all() for t in moments]).all()
        values.append(torch.where(finite, 0.0, torch.inf).reshape(1).to(moments[0].device))
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

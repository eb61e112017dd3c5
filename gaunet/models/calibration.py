"""Exact BatchNorm statistics for small-data classifiers.

With a few batches per epoch, BatchNorm's running averages (momentum 0.1) still describe the
first weights, not the current ones; in eval mode such a network sends every image to one
class. Recomputing the statistics over the whole training set before evaluating fixes that
(the "precise BN" of Wu & Johnson 2021) at the cost of one forward pass without gradients.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class _Moments:
    """Per-channel sums of a BatchNorm's inputs over every batch, weighted by element count."""

    def __init__(self) -> None:
        self.count = 0
        self.total: torch.Tensor | float = 0.0
        self.squares: torch.Tensor | float = 0.0

    def __call__(self, module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0].detach().double().transpose(0, 1).flatten(1)  # (C, everything else)
        self.count += x.shape[1]
        self.total = self.total + x.sum(1)
        self.squares = self.squares + (x * x).sum(1)

    def mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.total / self.count
        var = (self.squares / self.count - mean * mean).clamp_min(0.0)
        return mean, var * self.count / max(self.count - 1, 1)  # unbiased, as BatchNorm keeps


def recalibrate_batchnorm(
    net: nn.Module,
    images: torch.Tensor,
    batch_size: int,
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> None:
    """Set every BatchNorm's running mean/var to its input's exact mean/var over `images`.

    The pass runs in train mode (each layer normalises with batch statistics, as in training)
    and weights every batch by its size, so the first BatchNorm's result does not depend on
    `batch_size`; a later one's inputs went through layers normalised per batch, so its
    statistics do, slightly (and dropout, active in train mode, draws from torch's RNG).
    `forward` is the part of the network to run (default: all of it); the network is left in
    train mode. Each batch is moved to the network's device (a no-op when `images` already
    live there, as fit_network keeps them), so a network on a GPU is recalibrated on it.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    moments = [_Moments() for _ in norms]
    hooks = [norm.register_forward_pre_hook(m) for norm, m in zip(norms, moments)]
    net.train()
    run = forward or net
    device = next((p.device for p in net.parameters()), images.device)
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                run(images[start : start + batch_size].to(device))
    finally:
        for hook in hooks:
            hook.remove()
    for norm, moment in zip(norms, moments):
        if norm.running_mean is None or not moment.count:
            continue
        mean, var = moment.mean_var()
        norm.running_mean.copy_(mean.to(norm.running_mean.dtype))
        norm.running_var.copy_(var.to(norm.running_var.dtype))

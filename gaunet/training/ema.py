"""Exponential moving average of the generator's weights, used for sampling by default: it
smooths the oscillation of adversarial training without slowing the generator's learning."""

from __future__ import annotations

import copy

import torch
from torch import nn

from gaunet.models.layers import persistent_buffers


class EMA:
    """A frozen copy of `model` whose parameters trail the live ones.

    The decay ramps up as min(decay, (1 + t) / (10 + t)), so short runs are not dominated by the
    random initial weights: a memory of about t / 9 steps. With `ramp` r > 0 the memory is
    instead r x t steps (decay 1 - 1 / (1 + r t)), still capped by `decay`: a longer average
    over a generator whose snapshots swing in quality (docs/augmentation.md). Buffers
    (batch-renorm running statistics) are copied as they are.
    """

    def __init__(self, model: nn.Module, decay: float, ramp: float = 0.0) -> None:
        if ramp < 0:
            raise ValueError(f"ema_ramp must be >= 0, got {ramp}")
        self.decay, self.ramp = decay, ramp
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        # a device scalar holding 1 - decay, written before each CUDA-graph replay (graphs.py):
        # a captured update cannot read a Python float that changes every step
        self.weight: torch.Tensor | None = None

    def decay_at(self, step: int) -> float:
        """The averaging decay of the update at generator step `step`."""
        if self.ramp > 0:
            return min(self.decay, 1.0 - 1.0 / (1.0 + self.ramp * step))
        return min(self.decay, (1 + step) / (10 + step))

    def update(self, model: nn.Module, step: int) -> None:
        self.blend(
            list(self.model.parameters()),
            [p.detach() for p in model.parameters()],
            persistent_buffers(self.model),
            persistent_buffers(model),
            step,
        )

    @torch.no_grad()
    def blend(
        self,
        mine: list[torch.Tensor],
        live: list[torch.Tensor],
        my_buffers: list[torch.Tensor],
        live_buffers: list[torch.Tensor],
        step: int,
    ) -> None:
        """The update on parameter and buffer lists (a module's, or stacked models' tensors)."""
        if self.weight is None:
            torch._foreach_lerp_(mine, live, 1.0 - self.decay_at(step))
        else:  # the same lerp with the weight read on the device (bit-identical)
            torch._foreach_lerp_(mine, live, [self.weight] * len(mine))
        # one multi-tensor copy per dtype, not a kernel per buffer: a list mixing float
        # statistics with int64 counters takes CUDA's per-tensor path
        for dtype in dict.fromkeys(buffer.dtype for buffer in my_buffers):
            pairs = [(m, b) for m, b in zip(my_buffers, live_buffers) if m.dtype == dtype]
            torch._foreach_copy_([m for m, _ in pairs], [b for _, b in pairs])

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)

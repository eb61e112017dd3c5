"""Exponential moving average of the generator's weights, used for sampling by default: it
smooths the oscillation of adversarial training without slowing the generator's learning."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """A frozen copy of `model` whose parameters trail the live ones.

    The decay ramps up as min(decay, (1 + t) / (10 + t)), so short runs are not dominated by the
    random initial weights. Buffers (batch-renorm running statistics) are copied as they are.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        live = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(list(self.model.parameters()), live, 1.0 - decay)
        for mine, theirs in zip(self.model.buffers(), model.buffers()):
            mine.copy_(theirs)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)

"""Building blocks of the paper's U-Net generator: batch renormalization, residual blocks and
the down/up-scaling stages. The critic's blocks are in gaunet.models.dense.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

LEAK = 0.01  # paper eq. (8): leaky ReLU slope 0.01


def in_function_transform() -> bool:
    """True inside torch.func.vmap/grad (stacked models, gaunet/training/stacked.py), where some
    eager idioms (autograd.grad, in-place lerp_, in-place random draws on a fresh tensor) are
    not allowed."""
    return torch._C._functorch.peek_interpreter_stack() is not None


class RenormUpdates:
    """The running-statistic updates of the batch-renorm layers of one forward pass, applied
    together at its end: one multi-tensor lerp for the means, one for the variances and one add
    for the pass counters, where each layer would launch three kernels (at small sizes a GPU's
    step follows its kernel count). Each layer's statistics are read by that layer alone, before
    its own update, so the values are those of updating layer by layer; a layer that runs a
    second time in the pass applies what is pending before it reads its statistics."""

    def __init__(self) -> None:
        self.pending: dict[int, tuple[BatchRenorm2d, torch.Tensor, torch.Tensor]] = {}

    def before_reading(self, layer: BatchRenorm2d) -> None:
        if id(layer) in self.pending:
            self.apply()

    def add(self, layer: BatchRenorm2d, mean: torch.Tensor, unbiased: torch.Tensor) -> None:
        self.pending[id(layer)] = (layer, mean, unbiased)

    @torch.no_grad()
    def apply(self) -> None:
        by_momentum: dict[float, list] = {}
        for update in self.pending.values():
            by_momentum.setdefault(update[0].momentum, []).append(update)
        for momentum, updates in by_momentum.items():
            layers, means, variances = zip(*updates)
            torch._foreach_lerp_([layer.running_mean for layer in layers], list(means), momentum)
            torch._foreach_lerp_([layer.running_var for layer in layers], list(variances), momentum)
            torch._foreach_add_([layer.num_batches_tracked for layer in layers], 1)
        self.pending.clear()


_DEFERRED: ContextVar[RenormUpdates | None] = ContextVar("renorm_updates", default=None)


@contextmanager
def deferred_renorm_updates() -> Iterator[None]:
    """Batch-renorm layers run inside update their running statistics together when the block
    ends without an error (RenormUpdates). Inside vmap the layers update at once, as before."""
    updates = RenormUpdates()
    token = _DEFERRED.set(updates)
    try:
        yield
    finally:
        _DEFERRED.reset(token)
    updates.apply()


def persistent_buffers(module: nn.Module) -> list[torch.Tensor]:
    """The module's buffers that its state dict holds (running statistics, counters), in the
    order of `module.buffers()`: not the constants registered with persistent=False (batch
    renorm's schedule), which follow from the constructor's arguments and never change."""
    return [
        buffer
        for sub in module.modules()
        for name, buffer in sub._buffers.items()
        if buffer is not None and name not in sub._non_persistent_buffers_set
    ]


class BatchRenorm2d(nn.Module):
    """Batch renormalization (Ioffe 2017), which PyTorch lacks.

    Training normalizes with the batch statistics corrected by r = sigma_B / sigma and
    d = (mu_B - mu) / sigma (both clipped, no gradient), so the output depends less on the
    mini-batch. The clip limits start at r_max = 1, d_max = 0 (plain batch norm) for `warmup`
    training forward passes, then grow linearly to `rmax` and `dmax` over `ramp` passes. The
    pass counter is a buffer, so it is checkpointed and resumed with the weights. Evaluation uses
    the running statistics, as batch norm does.
    """

    def __init__(
        self,
        channels: int,
        momentum: float = 0.01,
        eps: float = 1e-5,
        warmup: int = 5000,
        ramp: int = 20000,
        rmax: float = 3.0,
        dmax: float = 5.0,
    ) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.warmup, self.ramp, self.rmax, self.dmax = warmup, ramp, rmax, dmax
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        # the schedule's constants, [r, d] in each: upper limits = clamp(offset + slope * passes,
        # floor, ceiling), lower = upper ** exponent * sign = [1 / r_max, -d_max]. Buffers, so
        # they live on the device; not in the state dict, since they follow from the arguments.
        span = torch.tensor([rmax - 1.0, dmax])
        floor = torch.tensor([1.0, 0.0])
        slope = span / max(ramp, 1)
        constants = {
            "_limit_floor": floor,
            "_limit_ceiling": floor + span,
            "_limit_slope": slope,
            "_limit_offset": floor - slope * warmup,
            "_lower_exponent": torch.tensor([-1.0, 1.0]),
            "_lower_sign": torch.tensor([1.0, -1.0]),
        }
        for name, value in constants.items():
            self.register_buffer(name, value, persistent=False)

    def limits(self) -> tuple[float, float]:
        """Current (r_max, d_max) of the warm-up schedule."""
        r_max, d_max = self._limit_tensors()[0].tolist()
        return r_max, d_max

    def _limit_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Upper [r_max, d_max] and lower [1 / r_max, -d_max] limits, as tensors on the buffers'
        device (reading the pass counter on the host would stall a GPU at every batch-renorm
        layer of every forward pass), in 4 kernels."""
        passes = torch.addcmul(self._limit_offset, self._limit_slope, self.num_batches_tracked)
        upper = torch.clamp(passes, self._limit_floor, self._limit_ceiling)
        return upper, upper.pow(self._lower_exponent) * self._lower_sign

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        deferred = None if in_function_transform() else _DEFERRED.get()
        with torch.no_grad():  # r and d carry no gradient, so their statistics need none
            if deferred is not None:
                deferred.before_reading(self)
            stats_dtype = torch.promote_types(self.running_mean.dtype, torch.float32)
            # the batch-norm kernel's statistics pass: 3.3x faster than var_mean over (0, 2, 3)
            # on CPU (benchmarks/layer_speed.py)
            _, mean, inverse_std = torch.native_batch_norm(
                x.to(stats_dtype), None, None, None, None, True, 0.0, self.eps
            )
            # at small sizes a GPU's step follows its kernel count (docs/performance.md, "Issue
            # 29"): 21 kernels a training forward, one clamp with tensor bounds for each of r, d
            upper, lower = self._limit_tensors()
            inverse_running_std = (self.running_var + self.eps).rsqrt()
            r = torch.clamp(inverse_running_std / inverse_std, lower[0], upper[0])
            d = torch.clamp((mean - self.running_mean) * inverse_running_std, lower[1], upper[1])
            count = x.numel() / x.shape[1]
            unbiased = (inverse_std.pow(-2) - self.eps) * (count / max(count - 1, 1))
            if deferred is not None:  # the generator's pass: all layers' updates at its end
                deferred.add(self, mean, unbiased)
            elif in_function_transform():  # vmap (stacked models): in-place lerp has no
                self.running_mean.copy_(self.running_mean.lerp(mean, self.momentum))  # batching
                self.running_var.copy_(self.running_var.lerp(unbiased, self.momentum))  # rule
                self.num_batches_tracked.add_(1)
            else:
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(unbiased, self.momentum)
                self.num_batches_tracked.add_(1)
        # weight * (x_hat * r + d) + bias is batch norm with weight * r and bias + weight * d:
        # one fused kernel (with its batch-statistics gradient) instead of a chain of fp32
        # element-wise passes that autograd must keep.
        return F.batch_norm(
            x, None, None, self.weight * r, torch.addcmul(self.bias, self.weight, d), True, 0.0,
            self.eps,
        )  # fmt: skip


class ResidualBlock(nn.Module):
    """`convs` x (3x3 conv, batch renorm, leaky ReLU) plus a 1x1-conv residual path (eq. 7)."""

    def __init__(
        self, in_ch: int, out_ch: int, convs: int, norm: Callable[[int], nn.Module]
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for k in range(convs):
            layers += [
                nn.Conv2d(in_ch if k == 0 else out_ch, out_ch, 3, padding=1, bias=False),
                norm(out_ch),
                nn.LeakyReLU(LEAK),
            ]
        self.body = nn.Sequential(*layers)
        self.skip = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class Downscale(nn.Module):
    """Stride-2 convolution, leaky ReLU, batch norm, dropout (paper section II-C)."""

    def __init__(self, in_ch: int, out_ch: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1),
            nn.LeakyReLU(LEAK),
            nn.BatchNorm2d(out_ch),
            nn.Dropout2d(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Upscale(nn.Module):
    """Transposed convolution (stride 1/2), leaky ReLU, batch renorm, dropout."""

    def __init__(
        self, in_ch: int, out_ch: int, dropout: float, norm: Callable[[int], nn.Module]
    ) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1),
            nn.LeakyReLU(LEAK),
            norm(out_ch),
            nn.Dropout2d(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

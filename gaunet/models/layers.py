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
    together at its end: multi-tensor ops for the unbiased batch variances (from 1 / std: a
    power, a subtraction, a multiplication), the lerps of the means and of the variances and
    the counters' add, where each layer would launch six kernels (at small sizes a GPU's step
    follows its kernel count). Each layer's statistics are read by that layer alone, before its
    own update, so the values are those of updating layer by layer; a layer that runs a second
    time in the pass applies what is pending before it reads its statistics."""

    def __init__(self) -> None:
        self.pending: dict[int, tuple[BatchRenorm2d, torch.Tensor, torch.Tensor, float]] = {}

    def before_reading(self, layer: BatchRenorm2d) -> None:
        if id(layer) in self.pending:
            self.apply()

    def add(
        self, layer: BatchRenorm2d, mean: torch.Tensor, inverse_std: torch.Tensor, count: float
    ) -> None:
        """The batch's mean and 1 / sqrt(biased variance + eps), over `count` values a channel."""
        self.pending[id(layer)] = (layer, mean, inverse_std, count)

    @torch.no_grad()
    def apply(self) -> None:
        by_momentum: dict[float, list] = {}
        for update in self.pending.values():
            by_momentum.setdefault(update[0].momentum, []).append(update)
        for momentum, updates in by_momentum.items():
            layers, means, inverse_stds, counts = zip(*updates)
            tensors = [layer.running_mean for layer in layers]
            tensors += [layer.running_var for layer in layers]
            tensors += [layer.num_batches_tracked for layer in layers]
            tensors += [*means, *inverse_stds]
            epsilons = tuple(layer.eps for layer in layers)
            unbias = tuple(count / max(count - 1, 1) for count in counts)
            if in_function_transform():  # stacked models: on the stacked buffers themselves
                _UpdatesOfModels.apply(momentum, epsilons, unbias, *tensors)
            else:
                _update_statistics(momentum, epsilons, unbias, tensors)
        self.pending.clear()


def _update_statistics(
    momentum: float, epsilons: tuple, unbias: tuple, tensors: list[torch.Tensor]
) -> None:
    """Running means and variances toward the pass's, counters + 1: `tensors` is the layers'
    running means, running variances, counters, then the batch means and 1 / std. The unbiased
    variance is (1 / std^-2 - eps) * n / (n - 1), as BatchRenorm2d computes it alone."""
    layers = len(epsilons)
    running_means, running_vars, counters, means, inverse_stds = (
        tensors[k * layers : (k + 1) * layers] for k in range(5)
    )
    variances = torch._foreach_pow(inverse_stds, -2)
    torch._foreach_sub_(variances, list(epsilons))
    torch._foreach_mul_(variances, list(unbias))
    torch._foreach_lerp_(running_means, means, momentum)
    torch._foreach_lerp_(running_vars, variances, momentum)
    torch._foreach_add_(counters, 1)


def models_side_by_side(
    models: int, in_dims: tuple, x: torch.Tensor, *per_channel: torch.Tensor | None
) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """For a vmap rule over G stacked models: their (N, C, ...) inputs as one (N, G*C, ...)
    tensor (model k's channels k*C..(k+1)*C) and their per-channel parameters as (G*C,), so
    that one normalization kernel runs all G. A model dimension already second costs no copy
    (a batched convolution's output is laid out so)."""
    x_dim, *dims = in_dims[: 1 + len(per_channel)]
    if x_dim is None:
        x = x.unsqueeze(1).expand(-1, models, *x.shape[1:])
    else:
        x = x.movedim(x_dim, 1)
    n, _, c, *spatial = x.shape
    side = [
        None if t is None else t.repeat(models) if dim is None else t.movedim(dim, 0).reshape(-1)
        for t, dim in zip(per_channel, dims)
    ]
    return x.reshape(n, models * c, *spatial), side


class _UpdatesOfModels(torch.autograd.Function):
    """RenormUpdates' in-place updates inside vmap (stacked models), where in-place lerp_ has no
    batching rule (vmap would loop over the models, or take a copy and a copy back per layer):
    the vmap rule runs the same multi-tensor ops on the stacked buffers themselves."""

    @staticmethod
    def forward(momentum, epsilons, unbias, *tensors):  # type: ignore[override]
        _update_statistics(momentum, epsilons, unbias, list(tensors))
        return torch.empty(0)  # a Function returns a tensor; the updates are its effect

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[override]
        ctx.inputs = len(inputs)
        ctx.mark_non_differentiable(output)

    @staticmethod
    def backward(ctx, _grad):  # type: ignore[override]
        return (None,) * ctx.inputs  # statistics carry no gradient

    @staticmethod
    def vmap(info, in_dims, momentum, epsilons, unbias, *tensors):  # type: ignore[override]
        dims = in_dims[3:]
        if any(dim is None for dim in dims[: 3 * len(epsilons)]):
            raise RuntimeError("batch renorm inside vmap needs its buffers stacked per model")
        physical = [
            t.movedim(dim, 0) if dim is not None else t.expand(info.batch_size, *t.shape)
            for t, dim in zip(tensors, dims)
        ]
        _update_statistics(momentum, epsilons, unbias, physical)
        return torch.empty(0), None


class _BatchNormOfModels(torch.autograd.Function):
    """torch.native_batch_norm in training mode (batch statistics, no running ones), whose vmap
    rule runs G stacked models as one kernel, their channels side by side: vmap's own rule
    adds a ones and a zeros for the weight and bias, and applies per-model ones outside the
    kernel (5 kernels, and their gradients apart)."""

    @staticmethod
    def forward(x, weight, bias, eps):  # type: ignore[override]
        return torch.native_batch_norm(x, weight, bias, None, None, True, 0.0, eps)

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[override]
        x, weight, _, eps = inputs
        _, mean, inverse_std = output
        ctx.eps = eps
        ctx.mark_non_differentiable(mean, inverse_std)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, weight, mean, inverse_std)

    @staticmethod
    def backward(ctx, dy, _mean, _inverse_std):  # type: ignore[override]
        if dy is None:
            return None, None, None, None
        x, weight, mean, inverse_std = ctx.saved_tensors
        dx, dw, db = torch.ops.aten.native_batch_norm_backward(
            dy,
            x,
            weight,
            None,
            None,
            mean,
            inverse_std,
            True,
            ctx.eps,
            list(ctx.needs_input_grad[:3]),
        )
        return dx, dw, db, None

    @staticmethod
    def vmap(info, in_dims, x, weight, bias, eps):  # type: ignore[override]
        models = info.batch_size
        x, (weight, bias) = models_side_by_side(models, in_dims, x, weight, bias)
        n, _, *spatial = x.shape
        c = x.shape[1] // models
        y, mean, inverse_std = _BatchNormOfModels.apply(x, weight, bias, eps)
        statistics = (mean.reshape(models, c), inverse_std.reshape(models, c))
        return (y.reshape(n, models, c, *spatial), *statistics), (1, 0, 0)


_DEFERRED: ContextVar[RenormUpdates | None] = ContextVar("renorm_updates", default=None)


@contextmanager
def deferred_renorm_updates() -> Iterator[None]:
    """Batch-renorm layers run inside update their running statistics together when the block
    ends without an error (RenormUpdates); inside vmap (stacked models) on the stacked buffers
    themselves, through _UpdatesOfModels' vmap rule."""
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
        stacked = in_function_transform()  # vmap over stacked models
        batch_norm = _BatchNormOfModels.apply if stacked else _batch_norm
        deferred = _DEFERRED.get()
        with torch.no_grad():  # r and d carry no gradient, so their statistics need none
            if deferred is not None:
                deferred.before_reading(self)
            stats_dtype = torch.promote_types(self.running_mean.dtype, torch.float32)
            # the batch-norm kernel's statistics pass: 3.3x faster than var_mean over (0, 2, 3)
            # on CPU (benchmarks/layer_speed.py)
            _, mean, inverse_std = batch_norm(x.to(stats_dtype), None, None, self.eps)
            # at small sizes a GPU's step follows its kernel count (docs/performance.md, "Issue
            # 29"): 21 kernels a training forward alone, 15 inside a generator's pass (whose
            # end updates all layers' statistics in 6); one clamp with tensor bounds for r, d
            upper, lower = self._limit_tensors()
            inverse_running_std = (self.running_var + self.eps).rsqrt()
            r = torch.clamp(inverse_running_std / inverse_std, lower[0], upper[0])
            d = torch.clamp((mean - self.running_mean) * inverse_running_std, lower[1], upper[1])
            count = x.numel() / x.shape[1]
            if deferred is not None:  # the generator's pass: all layers' updates at its end
                deferred.add(self, mean, inverse_std, count)
            else:
                self._update_alone(mean, inverse_std, count, stacked)
        # weight * (x_hat * r + d) + bias is batch norm with weight * r and bias + weight * d:
        # one fused kernel (with its batch-statistics gradient) instead of a chain of fp32
        # element-wise passes that autograd must keep.
        weight, bias = self.weight * r, torch.addcmul(self.bias, self.weight, d)
        if stacked:
            return _BatchNormOfModels.apply(x, weight, bias, self.eps)[0]
        return F.batch_norm(x, None, None, weight, bias, True, 0.0, self.eps)

    def _update_alone(
        self, mean: torch.Tensor, inverse_std: torch.Tensor, count: float, stacked: bool
    ) -> None:
        """The running statistics toward the batch's, outside a generator's pass."""
        unbiased = (inverse_std.pow(-2) - self.eps) * (count / max(count - 1, 1))
        if stacked:  # vmap: in-place lerp has no batching rule
            self.running_mean.copy_(self.running_mean.lerp(mean, self.momentum))
            self.running_var.copy_(self.running_var.lerp(unbiased, self.momentum))
        else:
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(unbiased, self.momentum)
        self.num_batches_tracked.add_(1)


def _batch_norm(x: torch.Tensor, weight, bias, eps: float):
    """Training-mode batch norm's output and batch statistics (mean, 1 / std)."""
    return torch.native_batch_norm(x, weight, bias, None, None, True, 0.0, eps)


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

"""Batch renormalization (Ioffe 2017), which PyTorch lacks, and the generator's pass around it:
its layers read their limits and running statistics together at the pass's first read and
update them together at its end (a GPU's step at small sizes follows its kernel count), also
for stacked models under vmap."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from gaunet.models.stacking import in_function_transform, models_side_by_side


class RenormPass:
    """A generator's pass over its batch-renorm layers, which read their running statistics and
    clip limits together and update them together.

    Reading: at a layer's first read in the pass, the limits and 1 / running std of every
    training batch-renorm layer of `module` are computed at once (RenormReading, a few kernels
    for all layers where each layer would launch six: at small sizes a GPU's step follows its
    kernel count). Updating: the running-statistic updates are applied together at the pass's
    end: multi-tensor ops for the unbiased batch variances (from 1 / std: a power, a
    subtraction, a multiplication), the lerps of the means and of the variances and the
    counters' add. Each layer's statistics are read by that layer alone, before its own update,
    so the values are those of updating layer by layer; a layer that runs a second time in the
    pass applies what is pending (and reads again) before it reads its statistics."""

    def __init__(self, module: nn.Module | None = None) -> None:
        self.module = module
        self.pending: dict[int, tuple[BatchRenorm2d, torch.Tensor, torch.Tensor, float]] = {}
        self.readings: dict[int, RenormReading] = {}

    def reading(self, layer: BatchRenorm2d) -> RenormReading:
        """The layer's limits and 1 / running std as they are now (pending updates applied)."""
        if id(layer) in self.pending:
            self.apply()
        found = self.readings.get(id(layer))
        if found is None:
            layers = [] if self.module is None else training_renorm_layers(self.module)
            if not any(other is layer for other in layers):
                layers = [layer]
            self.readings.update(read_renorm_layers(layers))
            found = self.readings[id(layer)]
        return found

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
        self.readings.clear()  # read from the updated statistics


class RenormReading(NamedTuple):
    """What a batch-renorm layer's training forward reads from its state: the clip limits of
    r (`r_low`, `r_high` = 1 / r_max, r_max) and of d (`d_low`, `d_high` = -d_max, d_max),
    and 1 / sqrt(running variance + eps) per channel."""

    r_low: torch.Tensor
    r_high: torch.Tensor
    d_low: torch.Tensor
    d_high: torch.Tensor
    inverse_running_std: torch.Tensor


def training_renorm_layers(module: nn.Module) -> list[BatchRenorm2d]:
    """The module's batch-renorm layers in training mode: those a pass reads together."""
    return [m for m in module.modules() if isinstance(m, BatchRenorm2d) and m.training]


@torch.no_grad()
def read_renorm_layers(layers: list[BatchRenorm2d]) -> dict[int, RenormReading]:
    """RenormReading of each layer (by id), the layers of one schedule, eps and dtype together:
    their counters stacked and their running variances concatenated, so that the limits cost
    6 kernels and 1 / std 3 for all of them (a lone layer: 7 in all). Each value is its
    layer's own by construction on every CPU: only element-wise multiplications, additions,
    clamps, negations, reciprocals and rsqrt (ATen's: a division by a square root, in its
    vector and its scalar code), which IEEE arithmetic rounds the same in a vector lane or
    alone, whatever the tensor's length (no fused multiply-add, no pow)."""
    groups: dict[tuple, list[BatchRenorm2d]] = {}
    for layer in layers:
        var = layer.running_var
        key = (layer.warmup, layer.ramp, layer.rmax, layer.dmax, layer.eps, var.dtype, var.device)
        groups.setdefault(key, []).append(layer)
    readings = {}
    for group in groups.values():
        first = group[0]
        counters = [layer.num_batches_tracked for layer in group]
        counter = torch.stack(counters) if len(group) > 1 else counters[0].unsqueeze(0)
        passes = counter.unsqueeze(-1) * first._limit_slope + first._limit_offset  # (L, [r, d])
        high = torch.clamp(passes, first._limit_floor, first._limit_ceiling)
        r_low, d_low = high[:, 0].reciprocal(), high[:, 1].neg()
        variances = [layer.running_var for layer in group]
        variance = torch.cat(variances) if len(group) > 1 else variances[0]
        inverse_stds = (variance + first.eps).rsqrt().split([v.shape[-1] for v in variances])
        for k, layer in enumerate(group):
            readings[id(layer)] = RenormReading(
                r_low[k], high[k, 0], d_low[k], high[k, 1], inverse_stds[k]
            )
    return readings


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


class _UpdatesOfModels(torch.autograd.Function):
    """RenormPass' in-place updates inside vmap (stacked models), where in-place lerp_ has no
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


_CURRENT_PASS: ContextVar[RenormPass | None] = ContextVar("renorm_pass", default=None)


@contextmanager
def deferred_renorm_updates(module: nn.Module | None = None) -> Iterator[None]:
    """Batch-renorm layers run inside read their limits and running statistics together (all
    of `module`'s at the first read) and update them together when the block ends without an
    error (RenormPass); inside vmap (stacked models) on the stacked buffers themselves,
    through _UpdatesOfModels' vmap rule."""
    renorm_pass = RenormPass(module)
    token = _CURRENT_PASS.set(renorm_pass)
    try:
        yield
    finally:
        _CURRENT_PASS.reset(token)
    renorm_pass.apply()


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
        # the schedule's constants, [r, d] in each: upper limits = clamp(passes * slope + offset,
        # floor, ceiling), lower = [1 / r_max, -d_max] (read_renorm_layers). Buffers, so they
        # live on the device; not in the state dict, since they follow from the arguments.
        span = torch.tensor([rmax - 1.0, dmax])
        floor = torch.tensor([1.0, 0.0])
        slope = span / max(ramp, 1)
        constants = {
            "_limit_floor": floor,
            "_limit_ceiling": floor + span,
            "_limit_slope": slope,
            "_limit_offset": floor - slope * warmup,
        }
        for name, value in constants.items():
            self.register_buffer(name, value, persistent=False)

    def limits(self) -> tuple[float, float]:
        """Current (r_max, d_max) of the warm-up schedule."""
        reading = self.reading()
        return reading.r_high.item(), reading.d_high.item()

    def reading(self) -> RenormReading:
        """The limits and 1 / running std this layer's training forward reads now, as tensors on
        the buffers' device (reading the pass counter on the host would stall a GPU at every
        batch-renorm layer of every forward pass): inside a generator's pass, read with all
        its layers'."""
        renorm_pass = _CURRENT_PASS.get()
        if renorm_pass is not None:
            return renorm_pass.reading(self)
        return read_renorm_layers([self])[id(self)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        stacked = in_function_transform()  # vmap over stacked models
        batch_norm = _BatchNormOfModels.apply if stacked else _batch_norm
        renorm_pass = _CURRENT_PASS.get()
        with torch.no_grad():  # r and d carry no gradient, so their statistics need none
            reading = self.reading()
            stats_dtype = torch.promote_types(self.running_mean.dtype, torch.float32)
            # the batch-norm kernel's statistics pass: 3.3x faster than var_mean over (0, 2, 3)
            # on CPU (benchmarks/layer_speed.py)
            _, mean, inverse_std = batch_norm(x.to(stats_dtype), None, None, self.eps)
            # at small sizes a GPU's step follows its kernel count (docs/performance.md, "Issue
            # 29"): 22 kernels a training forward alone, 9 inside a generator's pass (whose
            # start reads all layers' limits in 9 and whose end updates their statistics in
            # 6); one clamp with tensor bounds for r, d
            inverse_running_std = reading.inverse_running_std
            r = torch.clamp(inverse_running_std / inverse_std, reading.r_low, reading.r_high)
            d = (mean - self.running_mean) * inverse_running_std
            d = torch.clamp(d, reading.d_low, reading.d_high)
        # weight * (x_hat * r + d) + bias is batch norm with weight * r and bias + weight * d:
        # one fused kernel (with its batch-statistics gradient) instead of a chain of fp32
        # element-wise passes that autograd must keep.
        weight, bias = self.weight * r, torch.addcmul(self.bias, self.weight, d)
        if stacked:
            y = _BatchNormOfModels.apply(x, weight, bias, self.eps)[0]
        else:  # refuses one value per channel: before the statistics change, as BatchNorm2d
            y = F.batch_norm(x, None, None, weight, bias, True, 0.0, self.eps)
        count = x.numel() / x.shape[1]
        if renorm_pass is not None:  # the generator's pass: all layers' updates at its end
            renorm_pass.add(self, mean, inverse_std, count)
        else:
            with torch.no_grad():
                self._update_alone(mean, inverse_std, count, stacked)
        return y

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

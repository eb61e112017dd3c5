"""Helpers for models stacked on a leading axis and run through torch.func.vmap (G generators
trained together, gaunet/training/stacked.py): whether a function transform is running, and the
layouts that let G models share one kernel."""

from __future__ import annotations

import torch


def in_function_transform() -> bool:
    """True inside torch.func.vmap/grad (stacked models, gaunet/training/stacked.py), where some
    eager idioms (autograd.grad, in-place lerp_, in-place random draws on a fresh tensor) are
    not allowed. False while torch.compile traces (`compile: true`): dynamo reports an
    interpreter there too, and the stacked path's autograd Functions (with vmap rules) failed
    to trace; compiled models are never stacked (training/stacked_loop.py refuses compile)."""
    if torch.compiler.is_compiling():
        return False
    return torch._C._functorch.peek_interpreter_stack() is not None


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


def cat_channels(tensors: list[torch.Tensor]) -> torch.Tensor:
    """torch.cat(tensors, 1). Inside vmap (stacked models) the result is laid out with the
    model dimension second, (N, G, C, ...), which the convolutions and norms that read it take
    without a copy: vmap's own rule for cat puts the model dimension first, and then every
    batched convolution and norm reading the result copied it (a clone per reader)."""
    if in_function_transform():
        return _CatOfModels.apply(*tensors)
    return torch.cat(tensors, 1)


class _CatOfModels(torch.autograd.Function):
    """torch.cat along channels whose vmap rule lays out the result (N, G, C, ...)."""

    @staticmethod
    def forward(*tensors):  # type: ignore[override]
        return torch.cat(tensors, 1)

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[override]
        ctx.sizes = [t.shape[1] for t in inputs]

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return grad.split(ctx.sizes, 1)  # differentiable: the penalty's double backward

    @staticmethod
    def vmap(info, in_dims, *tensors):  # type: ignore[override]
        physical = [
            t.unsqueeze(1).expand(-1, info.batch_size, *t.shape[1:])
            if dim is None
            else t.movedim(dim, 1)
            for t, dim in zip(tensors, in_dims)
        ]
        return torch.cat(physical, 2), 1

"""The critic's layer norm (`nn.GroupNorm(1, C)`) with a short backward under `create_graph`.

Why: the gradient penalty differentiates the critic twice. PyTorch's group norm has fused kernels
for the forward and the plain backward, but under `create_graph` its backward is a composite of
about 35 small ops, and the double backward through them about 60 more. At 28 px that was half
the kernels of a `paper` iteration (benchmarks/kernel_count.py), and at small sizes a GPU's step
follows its kernel count. In the short form the forward and the plain backward are nn.GroupNorm's
own fused kernels (so without the penalty nothing changes, bit for bit), and the backward under
`create_graph` is one autograd Function whose own backward is written out in closed form: 43
kernels where group norm launches 95, for one layer's create-graph and double backward
(`one_layer` in benchmarks/penalty_norm_speed.py).

Stacked models (training/stacked.py) run the critic under vmap and take the penalty's gradient
with torch.func.grad per model: the Functions are written for torch.func (setup_context), the
outer one with a vmap rule that lays the G models' channels side by side as G groups of one
group norm (one fused kernel for all), the inner one with a generated rule.

Where it runs: off the CPU (`form="auto"`). The CPU is bound by full-size passes over the
activations, not by kernels, and PyTorch's composite makes fewer of those (per-channel
coefficients, then a few passes): on 2 CPU cores the short form was 4-7 % slower per iteration
(benchmarks/penalty_norm_speed.py, docs/performance.md), so the CPU keeps F.group_norm and its
results stay bit for bit today's.

Per sample, over its D = C*H*W values: xhat = (x - mean) * rstd, y = w * xhat + b. With
a = w * dy:

    dx = rstd * (a - mean(a) - xhat * mean(a * xhat)),   dw = sum(dy * xhat),   db = sum(dy)

and for the double backward, with u the gradient arriving at dx:

    d(dy)   = w * rstd * (u - mean(u) - xhat * mean(u * xhat))    (the same projection as dx)
    d(xhat) = -rstd * (u * mean(a * xhat) + a * mean(u * xhat))
    d(rstd) = sum(u * dx) / rstd
    dx'     = rstd * (d(xhat) - mean(d(xhat)) - xhat * mean(d(xhat) * xhat))
              - xhat * rstd^2 / D * d(rstd)

and where no gradient reaches dw (the penalty's case, whose loss reads dx alone), with
h = u * mean(a * xhat) + a * mean(u * xhat) so that d(xhat) = -rstd * h:

    dx'     = rstd^2 * (mean(h) - h + xhat * (mean(h * xhat) - d(rstd) / D))

Checked against nn.GroupNorm in fp64 (values, gradcheck, gradgradcheck) in
tests/test_penalty_norm.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch._prims_common import suggest_memory_format

from gaunet.models.stacking import in_function_transform, models_side_by_side


def _kernel_layout(x: torch.Tensor) -> torch.memory_format:
    """The layout F.group_norm hands its kernels: on the CPU the input's own (channels_last
    strides, even of a channel prefix, stay channels_last), elsewhere contiguous (ATen's
    group_norm). Inside vmap, contiguous: the vmap rule lays the models out anyway, and vmap
    cannot ask a tensor for its layout."""
    if x.device.type == "cpu" and not in_function_transform():
        return suggest_memory_format(x)
    return torch.contiguous_format


def _per_sample(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """The kernels' (N, 1) statistics as (N, 1, ..., 1), broadcasting over one sample."""
    return t.reshape((t.shape[0],) + (1,) * (ndim - 1))


def _per_channel(t: torch.Tensor, ndim: int) -> torch.Tensor:
    return t.reshape((1, -1) + (1,) * (ndim - 2))


class _LayerNorm(torch.autograd.Function):
    """y = group_norm(x, 1 group): the fused kernels, except the backward under create_graph.

    `groups` > 1 is G models' layer norms side by side (the vmap rule): sample n's channels
    k*C..(k+1)*C are model k's, each its own group, so G models still run one fused kernel."""

    @staticmethod
    def forward(x, weight, bias, eps, layout, groups=1):  # type: ignore[override]
        # a no-op where the caller (or the vmap rule) laid x out; not under torch.func.grad alone
        x = x.contiguous(memory_format=layout)
        n, c = x.shape[:2]
        return torch.native_group_norm(x, weight, bias, n, c, math.prod(x.shape[2:]), groups, eps)

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[override]
        x, weight, _, _, layout, *groups = inputs
        _, mean, rstd = output
        ctx.layout = layout  # x comes laid out so (penalty_layer_norm); dy is made to match
        ctx.groups = groups[0] if groups else 1
        ctx.mark_non_differentiable(mean, rstd)
        ctx.set_materialize_grads(False)  # no zeros for the statistics' (absent) gradients
        ctx.save_for_backward(x, weight, mean, rstd)

    @staticmethod
    def vmap(info, in_dims, x, weight, bias, eps, layout, groups=1):  # type: ignore[override]
        """G models (stacked, under vmap) as G groups of one group norm: without this rule,
        vmap applies the per-model weight and bias outside the kernel and takes their
        gradients apart, about 7 more kernels a layer."""
        models = info.batch_size
        x, (weight, bias) = models_side_by_side(models, in_dims, x, weight, bias)
        x = x.contiguous(memory_format=layout)
        n, _, *spatial = x.shape
        c = x.shape[1] // models
        y, mean, rstd = _LayerNorm.apply(x, weight, bias, eps, layout, groups * models)
        mean, rstd = (t.reshape(n, models, groups) for t in (mean, rstd))
        return (y.reshape(n, models, c, *spatial), mean, rstd), (1, 1, 1)

    @staticmethod
    def backward(ctx, dy, _mean, _rstd):  # type: ignore[override]
        if dy is None:
            return None, None, None, None, None, None
        x, weight, mean, rstd = ctx.saved_tensors
        needs = ctx.needs_input_grad[:3]
        if torch.is_grad_enabled():  # create_graph: a backward that can itself be differentiated
            if ctx.groups != 1:
                raise RuntimeError(
                    "the layer norm of stacked models is differentiated twice inside vmap "
                    "(torch.func.grad), not by autograd.grad(create_graph=True) outside it"
                )
            dx, dw, db, *_ = _LayerNormBackward.apply(dy, x, weight, mean, rstd)
            dw, db = (dw if needs[1] else None), (db if needs[2] else None)  # None: no bias
            return (dx if needs[0] else None), dw, db, None, None, None
        n, c = x.shape[:2]
        dx, dw, db = torch.ops.aten.native_group_norm_backward(
            dy.contiguous(memory_format=ctx.layout), x, mean, rstd, weight, n, c,
            math.prod(x.shape[2:]), ctx.groups, list(needs),
        )  # fmt: skip
        return dx, dw, db, None, None, None


class _LayerNormBackward(torch.autograd.Function):
    """(dx, dw, db) of the layer norm as a function of (dy, x, w), with its derivative written
    out (module docstring): what the penalty's double backward runs through. The intermediates
    its backward reuses come out as (non-differentiable) outputs too: under torch.func a
    Function saves only its inputs and outputs."""

    generate_vmap_rule = True  # elementwise ops and reductions: vmap batches them as they are

    @staticmethod
    def forward(dy, x, weight, mean, rstd):  # type: ignore[override]
        ndim = x.dim()
        sample = tuple(range(1, ndim))
        channel = (0,) + tuple(range(2, ndim))
        mean, rstd = _per_sample(mean, ndim), _per_sample(rstd, ndim)
        xhat = (x - mean) * rstd
        # without a weight a view of dy: a Function may not save an input it returns as is
        a = dy * _per_channel(weight, ndim) if weight is not None else dy.view_as(dy)
        a_xhat = (a * xhat).mean(sample, keepdim=True)
        core = torch.addcmul(a - a.mean(sample, keepdim=True), xhat, a_xhat, value=-1)
        dx = (core * rstd).to(x.dtype)
        dw = (dy * xhat).sum(channel).to(weight.dtype) if weight is not None else None
        db = dy.sum(channel).to(weight.dtype) if weight is not None else None
        return dx, dw, db, xhat, a, a_xhat, core

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[override]
        dy, x, weight, _, rstd = inputs
        _, _, _, xhat, a, a_xhat, core = output
        ctx.mark_non_differentiable(xhat, a, a_xhat, core)
        ctx.save_for_backward(dy, weight, xhat, _per_sample(rstd, x.dim()), a, a_xhat, core)
        ctx.x_dtype = x.dtype
        ctx.set_materialize_grads(False)  # no zeros for dw, db when the penalty uses dx alone

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, u, g_dw, g_db, *_saved):  # type: ignore[override]
        dy, weight, xhat, rstd, a, a_xhat, core = ctx.saved_tensors
        ndim = xhat.dim()
        sample = tuple(range(1, ndim))
        channel = (0,) + tuple(range(2, ndim))
        w = _per_channel(weight, ndim) if weight is not None else None
        g_dy = g_xhat = g_rstd = g_w = h = None
        if u is not None:
            u_xhat = (u * xhat).mean(sample, keepdim=True)
            g_a = torch.addcmul(u - u.mean(sample, keepdim=True), xhat, u_xhat, value=-1) * rstd
            g_dy = g_a * w if w is not None else g_a
            if weight is not None and ctx.needs_input_grad[2]:
                g_w = (g_a * dy).sum(channel)
            h = torch.addcmul(u * a_xhat, a, u_xhat)  # d(xhat) = -rstd * h
            g_rstd = (u * core).sum(sample, keepdim=True)
        if g_dw is not None:
            g_dw = _per_channel(g_dw, ndim)
            g_dy = xhat * g_dw if g_dy is None else torch.addcmul(g_dy, xhat, g_dw)
            g_xhat = dy * g_dw if h is None else torch.addcmul(h * -rstd, dy, g_dw)
        if g_db is not None:
            g_db = _per_channel(g_db, ndim)
            g_dy = g_db.expand_as(xhat) if g_dy is None else g_dy + g_db
        g_x = None
        if h is not None and g_dw is None and ctx.needs_input_grad[1]:  # the penalty's: folded
            g_x = _input_gradient_of_h(h, xhat, rstd, g_rstd, sample).to(ctx.x_dtype)
        elif g_xhat is not None and ctx.needs_input_grad[1]:
            scale = rstd * (g_xhat * xhat).mean(sample, keepdim=True)
            if g_rstd is not None:
                scale = scale + g_rstd * rstd.square() / xhat[0].numel()
            centred = (g_xhat - g_xhat.mean(sample, keepdim=True)) * rstd
            g_x = torch.addcmul(centred, xhat, scale, value=-1).to(ctx.x_dtype)
        if g_dy is not None:
            g_dy = g_dy.to(dy.dtype)
        if g_w is not None:
            g_w = g_w.to(weight.dtype)
        return g_dy, g_x, g_w, None, None


def _input_gradient_of_h(
    h: torch.Tensor, xhat: torch.Tensor, rstd: torch.Tensor, g_rstd: torch.Tensor, sample: tuple
) -> torch.Tensor:
    """dx' of the module docstring when d(xhat) = -rstd * h (no gradient reaches dw, as in the
    penalty, whose outer loss reads dx alone), with rstd taken out of the sums:
    dx' = rstd^2 * (mean(h) - h + xhat * (mean(h * xhat) - d(rstd) / D)), 10 kernels where
    the general form launches 15."""
    mean_h = h.mean(sample, keepdim=True)
    slope = torch.sub((h * xhat).mean(sample, keepdim=True), g_rstd, alpha=1 / xhat[0].numel())
    return torch.addcmul(mean_h - h, xhat, slope) * rstd.square()


FORMS = ("auto", "short", "native")


def penalty_layer_norm(
    x: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    eps: float = 1e-5,
    form: str = "auto",
) -> torch.Tensor:
    """`F.group_norm(x, 1, weight, bias, eps)`, the same values; `form="short"` with the short
    backward under create_graph, `"native"` F.group_norm itself, `"auto"` short off the CPU.

    Under autocast the dtypes are autocast's for group_norm: on CUDA the input is cast to fp32;
    CPU autocast leaves group_norm alone, whose kernel takes bf16 input with fp32 weights and
    statistics (but not inside vmap: see below). Inside vmap (stacked models, whose penalty
    takes torch.func.grad per model) the Function's vmap rule runs the G models as G groups of
    one group norm, so they share its fused kernels. Under torch.compile (`compile: true`,
    forward passes only) it is F.group_norm, which the compiler knows."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, not {form!r}")
    device = x.device.type
    if form == "native" or (form == "auto" and device == "cpu"):
        return F.group_norm(x, 1, weight, bias, eps)
    if torch.compiler.is_compiling():
        return F.group_norm(x, 1, weight, bias, eps)  # torch.compile: see the docstring
    # CPU autocast leaves group norm's bf16 input alone, but not inside vmap (stacked models),
    # whose batching rule of its backward mixes the dtypes: there, as on CUDA, fp32
    to_fp32 = torch.is_autocast_enabled(device) and (device != "cpu" or in_function_transform())
    with torch.autocast(device, enabled=False):
        if to_fp32:
            x = x.float()
        layout = _kernel_layout(x)
        if not in_function_transform():
            # laid out outside the Function, so that a copy stays on the graph: the double
            # backward reaches x through the tensor the Function saves. Inside vmap the rule
            # lays the models out: a copy here would undo cat_channels' layout (N, G, C, ...)
            # and cost a second copy there
            x = x.contiguous(memory_format=layout)
        return _LayerNorm.apply(x, weight, bias, eps, layout)[0]


class PenaltyLayerNorm(nn.GroupNorm):
    """`nn.GroupNorm(1, C)` (same parameters, state-dict keys and values) whose backward under
    `create_graph` is short where kernels are what costs: see the module docstring. `form` as
    in `penalty_layer_norm`."""

    def __init__(self, num_channels: int, eps: float = 1e-5, form: str = "auto") -> None:
        super().__init__(1, num_channels, eps=eps)
        if form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(FORMS)}, not {form!r}")
        self.form = form

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return penalty_layer_norm(x, self.weight, self.bias, self.eps, self.form)

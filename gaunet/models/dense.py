"""Building blocks of the paper's DenseNet critic: dense blocks and transitions with layer
normalization (no batch statistics, as the gradient penalty requires), and the faster CPU
dropout and pooling they use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gaunet.models.layers import LEAK
from gaunet.models.penalty_norm import PenaltyLayerNorm
from gaunet.models.stacking import cat_channels, in_function_transform


class Dropout(nn.Module):
    """Element-wise dropout whose CPU mask comes from 16 random bits per element.

    PyTorch's CPU dropout draws one Bernoulli sample per element: 14% of a cpu-tiny training
    step, 2-3x the time of this one (benchmarks/layer_speed.py, docs/performance.md). Here the
    mask is a comparison of random 16-bit integers (four per 64-bit draw) with a threshold, so
    the drop rate is p rounded to a multiple of 1/65536, and the kept values are scaled by the
    inverse of that exact keep rate, so the expectation is unchanged. Other devices use
    `F.dropout`, which is already a fused kernel there. Both draw from torch's global
    generator, so seeding and checkpointed RNG state make it reproducible."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        # out of 65536; at most 65535, since p just below 1 rounded to 65536 (keep rate 0)
        self.dropped = min(round(p * 65536), 65535)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.dropped == 0:
            return x
        if x.device.type != "cpu" or in_function_transform():
            return F.dropout(x, self.p, True)  # on the CPU too under vmap (stacked models)
        return x * dropout_mask(x, self.dropped)


def dropout_mask(x: torch.Tensor, dropped: int) -> torch.Tensor:
    """0 or 65536 / (65536 - dropped) per element of x, in x's dtype; drop rate dropped/65536."""
    n = x.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device)
    words.random_(-(2**63), 2**63 - 1)
    bits = words.view(torch.int16)[:n].view(x.shape)
    keep = bits >= dropped - 32768  # int16 is uniform on [-32768, 32767]
    return keep.to(x.dtype).mul_(65536 / (65536 - dropped))


def layer_norm(channels: int, keep_dtype: bool = False) -> nn.GroupNorm:
    """Layer norm over (C, H, W) per sample with a per-channel affine: no batch statistics, so
    each sample's critic score depends on that sample alone, as the gradient penalty requires.

    The default is `PenaltyLayerNorm`: `nn.GroupNorm(1, C)` with a short backward under
    create_graph, where the gradient penalty spends most of its kernels. `keep_dtype=True` gives
    `LayerNorm2d`, which keeps bf16 activations bf16 under autocast (fp32 statistics only). All
    have the same parameters and state-dict keys, so checkpoints load into any."""
    return LayerNorm2d(channels) if keep_dtype else PenaltyLayerNorm(channels)


class LayerNorm2d(nn.GroupNorm):
    """`nn.GroupNorm(1, C)` whose output keeps the input's dtype, with fp32 statistics.

    CUDA autocast runs group_norm in fp32: a bf16 activation is cast to fp32, normalised, passed
    through the leaky ReLU in fp32 and cast back to bf16 by the next convolution. Here autocast
    is off inside the layer and nothing is cast:

    - `kernel="batch_norm"` (the default off the CPU): the per-sample statistics come from the
      batch-norm kernel on a (1, N, C*H*W) view (each sample a "channel") with fp32 unit
      weights, so the kernel keeps and applies fp32 mean and inverse std (CUDA's group-norm
      kernel cannot: with bf16 input it stores them in bf16 and takes no fp32 weights); then
      the per-channel affine runs in the activation's dtype. The view needs no copy for
      contiguous and channels_last inputs, nor for a channel prefix of a contiguous
      dense-block buffer.
    - `kernel="group_norm"` (the default on the CPU): the CPU group-norm kernel's own mixed-type
      path (bf16 input, fp32 weights and statistics, bf16 output), one fused kernel. It is
      what CPU autocast already runs, so on the CPU this layer changes nothing but the name;
      the batch-norm form is 4x slower there (broadcast bf16 arithmetic,
      benchmarks/layer_speed.py).

    Values and gradients, double backward included (the gradient penalty needs it), equal
    GroupNorm's within the dtype's rounding, for both kernels (tests/test_layers.py)."""

    def __init__(self, num_channels: int, eps: float = 1e-5, kernel: str = "auto") -> None:
        super().__init__(1, num_channels, eps=eps)
        if kernel not in ("auto", "batch_norm", "group_norm"):
            raise ValueError(f"kernel must be auto, batch_norm or group_norm, not {kernel!r}")
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self.kernel
        if kernel == "auto":
            kernel = "group_norm" if x.device.type == "cpu" else "batch_norm"
        with torch.autocast(x.device.type, enabled=False):
            if kernel == "group_norm":
                return F.group_norm(x, 1, self.weight, self.bias, self.eps)
            return self._batch_norm_form(x)

    def _batch_norm_form(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            nhwc = x.permute(0, 2, 3, 1)  # contiguous: the flattened view needs no copy
            flat = nhwc.reshape(1, n, -1)

            def unflatten(y: torch.Tensor) -> torch.Tensor:
                return y.view(nhwc.shape).permute(0, 3, 1, 2)

        else:
            flat = x.reshape(1, n, -1)

            def unflatten(y: torch.Tensor) -> torch.Tensor:
                return y.view(x.shape)

        stats = torch.promote_types(x.dtype, torch.float32)  # the kernel's statistics dtype
        ones = torch.ones(n, dtype=stats, device=x.device)
        zeros = torch.zeros(n, dtype=stats, device=x.device)
        y = unflatten(F.batch_norm(flat, None, None, ones, zeros, True, 0.0, self.eps))
        if self.weight is None:
            return y
        shape = (1, c) + (1,) * (x.dim() - 2)
        weight, bias = self.weight.to(x.dtype).view(shape), self.bias.to(x.dtype).view(shape)
        return torch.addcmul(bias, y, weight)


class DenseBlock(nn.Module):
    """`layers` x (layer norm, leaky ReLU, 3x3 conv to `growth` channels), each seeing all
    earlier outputs; dropout at the end of the block (paper section II-C).

    `feature_buffer=True`: the features are written once into one preallocated buffer and
    each layer reads a channel prefix of it, instead of concatenating all earlier features at
    every layer (a copy of O(layers^2) channels per block; the shared storage of the
    memory-efficient DenseNet, Pleiss et al. 2017, without its recomputation). Values and
    gradients, double backward included, are those of the concatenation, bit for bit
    (tests/test_layers.py). Default off: today's torch.cat. `keep_dtype_norm=True` uses
    `LayerNorm2d` (see `layer_norm`)."""

    def __init__(
        self,
        in_ch: int,
        growth: int,
        layers: int,
        dropout: float,
        feature_buffer: bool = False,
        keep_dtype_norm: bool = False,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(
                layer_norm(in_ch + k * growth, keep_dtype_norm),
                nn.LeakyReLU(LEAK),
                nn.Conv2d(in_ch + k * growth, growth, 3, padding=1),
            )
            for k in range(layers)
        )
        self.dropout = Dropout(dropout)
        self.out_channels = in_ch + layers * growth
        self.feature_buffer = feature_buffer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.feature_buffer and len(self.layers):
            return self.dropout(self._buffered(x))
        features = [x]
        for layer in self.layers:
            features.append(layer(cat_channels(features)))
        return self.dropout(cat_channels(features))

    def _buffered(self, x: torch.Tensor) -> torch.Tensor:
        # the first layer reads x itself (torch.cat([x]) copies it); through the same autograd
        # node as the others, so that gradients add up in the same order as torch.cat's
        first = self.layers[0](_BufferPrefix.apply(_Holder(x), x))
        n, _, h, w = x.shape
        fmt = torch.contiguous_format
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            fmt = torch.channels_last  # what torch.cat of channels_last inputs gives
        buffer = torch.empty(
            (n, self.out_channels, h, w),
            dtype=torch.promote_types(x.dtype, first.dtype),
            device=x.device,
            memory_format=fmt,
        )
        features, end = [x, first], x.shape[1] + first.shape[1]
        with torch.no_grad():
            buffer[:, : x.shape[1]].copy_(x)
            buffer[:, x.shape[1] : end].copy_(first)
        for layer in self.layers[1:]:
            out = layer(_BufferPrefix.apply(_Holder(buffer[:, :end]), *features))
            with torch.no_grad():
                buffer[:, end : end + out.shape[1]].copy_(out)
            features.append(out)
            end += out.shape[1]
        return _BufferPrefix.apply(_Holder(buffer), *features)


class _Holder:
    """Hides a tensor from autograd.Function's argument handling (it is not an input)."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor


class _BufferPrefix(torch.autograd.Function):
    """The channel-concatenation of `features` read from a buffer that already holds them.

    Forward returns an alias of the buffer's prefix with its own version counter (`.data`):
    the buffer's later channels are written after earlier layers saved this prefix for
    backward, and those writes never touch the prefix, so autograd's in-place check (one
    counter per storage) would be a false alarm. Backward splits the gradient by channels, as
    torch.cat's backward does, with differentiable ops, so double backward works."""

    @staticmethod
    def forward(ctx, holder: _Holder, *features: torch.Tensor) -> torch.Tensor:
        ctx.sizes = [f.shape[1] for f in features]
        return holder.tensor.data

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return (None, *grad.split(ctx.sizes, 1))


class AvgPool2x2(nn.Module):
    """2x2 average pooling, odd sides rounded up (ceil mode). On CPU, even sides are the mean of
    the four strided sub-grids: forward and backward together took half the time of
    avg_pool2d in bf16 (benchmarks/layer_speed.py, docs/performance.md)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 2 or x.shape[-2] % 2 or x.device.type != "cpu":
            return F.avg_pool2d(x, 2, ceil_mode=True)
        corners = x[..., ::2, ::2] + x[..., 1::2, ::2] + x[..., ::2, 1::2] + x[..., 1::2, 1::2]
        return corners * 0.25


class Transition(nn.Module):
    """Layer norm, leaky ReLU, 1x1 conv halving the channels, 2x2 average pooling (DenseNet).

    `pool=False` keeps the resolution: a critic on small images (the paper's /4 stem and four
    transitions at 28 px) runs out of pixels before it runs out of transitions. Pooling rounds
    odd sides up (ceil mode), so 7 px pool to 4, not 3. `keep_dtype_norm`: see `layer_norm`."""

    def __init__(
        self, in_ch: int, out_ch: int, pool: bool = True, keep_dtype_norm: bool = False
    ) -> None:
        super().__init__()
        self.net = nn.Sequential(
            layer_norm(in_ch, keep_dtype_norm),
            nn.LeakyReLU(LEAK),
            nn.Conv2d(in_ch, out_ch, 1),
            AvgPool2x2() if pool else nn.Identity(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def use_critic_levers(
    module: nn.Module, keep_dtype_norm: bool = False, feature_buffer: bool = False
) -> int:
    """Turns the issue-17 levers on in an already built network, in place: every
    `nn.GroupNorm(1, C)` (or `PenaltyLayerNorm`) becomes a `LayerNorm2d` holding the same Parameter objects (so an
    optimizer built before keeps working), and every `DenseBlock` gets `feature_buffer`.
    Returns the number of modules changed. For benchmarks and tests; a config wires the same
    levers through the constructors' keyword arguments."""
    changed = 0
    for parent in list(module.modules()):
        if isinstance(parent, DenseBlock) and feature_buffer and not parent.feature_buffer:
            parent.feature_buffer = True
            changed += 1
        if not keep_dtype_norm:
            continue
        for name, child in list(parent.named_children()):
            if type(child) in (nn.GroupNorm, PenaltyLayerNorm) and child.num_groups == 1:
                norm = LayerNorm2d(child.num_channels, eps=child.eps)
                norm.weight, norm.bias = child.weight, child.bias
                norm.train(child.training)
                setattr(parent, name, norm)
                changed += 1
    return changed

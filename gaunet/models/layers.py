"""Building blocks of the paper's networks: batch renormalization, residual U-Net blocks, dense
blocks with layer normalization.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

LEAK = 0.01  # paper eq. (8): leaky ReLU slope 0.01


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

    def limits(self) -> tuple[float, float]:
        """Current (r_max, d_max) of the warm-up schedule."""
        r_max, d_max = self._limit_tensors()
        return float(r_max), float(d_max)

    def _limit_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The schedule as tensors on the buffer's device: reading the pass counter on the host
        would stall a GPU at every batch-renorm layer of every forward pass."""
        done = (self.num_batches_tracked - self.warmup).clamp(min=0).float()
        t = (done / max(self.ramp, 1)).clamp(max=1.0)
        return 1.0 + t * (self.rmax - 1.0), t * self.dmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        dims = (0, 2, 3)
        x32 = x.float()
        mean = x32.mean(dims)
        var = x32.var(dims, unbiased=False)
        std = (var + self.eps).sqrt()
        running_std = (self.running_var + self.eps).sqrt()
        r_max, d_max = self._limit_tensors()
        r = torch.minimum(torch.maximum(std.detach() / running_std, 1.0 / r_max), r_max)
        d = torch.minimum(
            torch.maximum((mean.detach() - self.running_mean) / running_std, -d_max), d_max
        )
        scale = self.weight * r / std
        shift = self.bias + self.weight * (d - mean * r / std)
        out = x32 * scale[None, :, None, None] + shift[None, :, None, None]
        with torch.no_grad():
            count = x.numel() / x.shape[1]
            unbiased = var.detach() * count / max(count - 1, 1)
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(unbiased, self.momentum)
            self.num_batches_tracked.add_(1)
        return out.to(x.dtype)


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


def layer_norm(channels: int) -> nn.GroupNorm:
    """Layer norm over (C, H, W) per sample with a per-channel affine: no batch statistics, so
    each sample's critic score depends on that sample alone, as the gradient penalty requires."""
    return nn.GroupNorm(1, channels)


class DenseBlock(nn.Module):
    """`layers` x (layer norm, leaky ReLU, 3x3 conv to `growth` channels), each seeing all
    earlier outputs; dropout at the end of the block (paper section II-C)."""

    def __init__(self, in_ch: int, growth: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(
                layer_norm(in_ch + k * growth),
                nn.LeakyReLU(LEAK),
                nn.Conv2d(in_ch + k * growth, growth, 3, padding=1),
            )
            for k in range(layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.out_channels = in_ch + layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))
        return self.dropout(torch.cat(features, 1))


class Transition(nn.Module):
    """Layer norm, leaky ReLU, 1x1 conv halving the channels, 2x2 average pooling (DenseNet).

    `pool=False` keeps the resolution: a critic on small images (the paper's /4 stem and four
    transitions at 28 px) runs out of pixels before it runs out of transitions. Pooling rounds
    odd sides up (ceil mode), so 7 px pool to 4, not 3."""

    def __init__(self, in_ch: int, out_ch: int, pool: bool = True) -> None:
        super().__init__()
        self.net = nn.Sequential(
            layer_norm(in_ch),
            nn.LeakyReLU(LEAK),
            nn.Conv2d(in_ch, out_ch, 1),
            nn.AvgPool2d(2, ceil_mode=True) if pool else nn.Identity(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

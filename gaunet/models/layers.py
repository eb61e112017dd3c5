"""Building blocks of the paper's U-Net generator: residual blocks and the down/up-scaling
stages (its normalization, batch renorm, is in gaunet.models.batch_renorm). The critic's blocks
are in gaunet.models.dense.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

LEAK = 0.01  # paper eq. (8): leaky ReLU slope 0.01


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


def require_at_least(least: int, **counts: int) -> None:
    """ValueError naming the first count below `least`: out of range, a network was built that
    failed at its first forward with a torch shape error, or ran with a part silently off."""
    for name, value in counts.items():
        if value < least:
            raise ValueError(f"{name} must be at least {least}, not {value}")


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

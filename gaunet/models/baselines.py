"""The paper's baselines (Figure 2): a vanilla GAN (Goodfellow et al. 2014) and a conditional GAN
(Mirza & Osindero 2014), both with DCGAN networks (Radford et al. 2016) and the non-saturating
binary cross-entropy loss, trained by the same loop as GAU-Net (their losses and the config's
translation into these networks' arguments: gaunet.training.loss_baselines).

- `gan`: one unconditional generator + discriminator *per class*, so that every sample carries
  the label of the model that drew it. Both live in one module (`PerClass`) that dispatches each
  row of a batch to its class's network, so the trainer still sees one generator and one critic.
- `cgan`: one generator and one discriminator, both conditioned on a learned class embedding by
  concatenation: [z, e(c)] is the generator's input; e(c) broadcast to an H x W map is
  concatenated to the discriminator's input channels (Mirza & Osindero's input concatenation).

Neither baseline looks at the conditioning image: `sample` accepts it and ignores it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gaunet.config import ConfigError
from gaunet.models.layers import require_at_least

LEAK = 0.2  # DCGAN's leaky ReLU slope in the discriminator
SMALLEST_SIDE = 8  # the networks start (G) / end (D) at a side of at most this many pixels


def base_side(size: int) -> int:
    """The side the generator starts from: `size` halved while it stays even and >= 4.

    32 -> 4, 64 -> 4, 28 -> 7, 48 -> 6. Sizes that do not halve down to 8 or less (e.g. 36 -> 9)
    are refused, because the first layer would then be a dense map of most of the image.
    """
    side = size
    while side % 2 == 0 and side // 2 >= 4:
        side //= 2
    if size < 8 or side > SMALLEST_SIDE:
        raise ConfigError(
            f"size {size} does not suit the DCGAN baselines: it must halve to a side of 4..8 "
            "(e.g. 16, 32, 64, 128, 256; 28 -> 7 and 48 -> 6 also work)"
        )
    return side


def side_widths(size: int, start: int, cap: int) -> list[tuple[int, int]]:
    """[(side, width)] from the base side up to size / 2: the width doubles at each halving of
    the side, from `start` at size / 2, capped at `cap` (DCGAN: 128 at 32 px ... 1024 at 4 px)."""
    sides, side = [], base_side(size)
    while side < size:
        sides.append(side)
        side *= 2
    return [(s, min(start * (size // 2 // s), cap)) for s in sides]


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


class DCGANGenerator(nn.Module):
    """z (+ class embedding) -> linear to base side x base side -> transposed 4x4 stride-2
    convolutions with batch norm and ReLU -> the image through tanh."""

    def __init__(
        self, channels: int, size: int, z_dim: int, width: int, width_max: int, extra_in: int = 0
    ) -> None:
        require_at_least(1, channels=channels, z_dim=z_dim, width=width, width_max=width_max)
        super().__init__()
        levels = side_widths(size, 2 * width, width_max)  # smallest side first
        side, first = levels[0]
        self.shape = (first, side, side)
        self.project = nn.Linear(z_dim + extra_in, first * side * side, bias=False)
        self.project_norm = nn.BatchNorm2d(first)
        layers: list[nn.Module] = []
        for (_, w_in), (_, w_out) in zip(levels, levels[1:]):
            layers += [
                nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(w_out),
                nn.ReLU(),
            ]
        layers += [nn.ConvTranspose2d(levels[-1][1], channels, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(len(z), *self.shape)
        return self.body(F.relu(self.project_norm(h)))


class DCGANDiscriminator(nn.Module):
    """Strided 4x4 convolutions with leaky ReLU (batch norm after the first) down to the base
    side, then a linear layer to one logit per image (float32)."""

    def __init__(self, in_channels: int, size: int, width: int, width_max: int) -> None:
        require_at_least(1, in_channels=in_channels, width=width, width_max=width_max)
        super().__init__()
        self.size = size
        levels = side_widths(size, width, width_max)[::-1]  # size/2 first
        layers: list[nn.Module] = [nn.Conv2d(in_channels, levels[0][1], 4, 2, 1)]
        layers.append(nn.LeakyReLU(LEAK))
        for (_, w_in), (_, w_out) in zip(levels, levels[1:]):
            layers += [
                nn.Conv2d(w_in, w_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(w_out),
                nn.LeakyReLU(LEAK),
            ]
        self.features = nn.Sequential(*layers)
        side, last = levels[-1]
        self.head = nn.Linear(last * side * side, 1)
        dcgan_init(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.size, self.size):  # else a matmul error at the head
            raise ValueError(
                f"the discriminator was built for {self.size}x{self.size} images, "
                f"not {images.shape[-2]}x{images.shape[-1]}"
            )
        logit = self.head(self.features(images).flatten(1)).squeeze(1)
        return logit.to(torch.promote_types(logit.dtype, torch.float32))


class PerClass(nn.Module):
    """One network per class; row k of a batch goes through network labels[k].

    Rows are grouped by class (a stable sort), each group runs through its own network (so
    batch norm sees only its class), and the outputs are put back in the input order.
    """

    def __init__(self, networks: list[nn.Module]) -> None:
        super().__init__()
        self.networks = nn.ModuleList(networks)

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        order = torch.argsort(labels, stable=True)
        counts = torch.bincount(labels, minlength=len(self.networks)).tolist()
        groups = torch.split(inputs[order], counts)
        outputs = [self.networks[c](g) for c, g in enumerate(groups) if len(g)]
        return torch.cat(outputs)[torch.argsort(order)]


class ConditionalGenerator(nn.Module):
    """cGAN generator: the DCGAN generator fed [z, embedding(class)]."""

    def __init__(
        self,
        channels: int,
        size: int,
        num_classes: int,
        z_dim: int,
        width: int,
        width_max: int,
        class_embed_dim: int,
    ) -> None:
        require_at_least(1, num_classes=num_classes)
        super().__init__()
        self.embed = nn.Embedding(num_classes, class_embed_dim)
        self.net = DCGANGenerator(channels, size, z_dim, width, width_max, class_embed_dim)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, self.embed(labels).to(z.dtype)], 1))


class ConditionalDiscriminator(nn.Module):
    """cGAN discriminator: the DCGAN discriminator on the image with an embedding(class) map
    concatenated as extra input channels."""

    def __init__(
        self,
        channels: int,
        size: int,
        num_classes: int,
        width: int,
        width_max: int,
        class_embed_dim: int,
    ) -> None:
        require_at_least(1, num_classes=num_classes)
        super().__init__()
        self.embed = nn.Embedding(num_classes, class_embed_dim)
        self.net = DCGANDiscriminator(channels + class_embed_dim, size, width, width_max)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        side = images.shape[-1]
        label_map = self.embed(labels)[:, :, None, None].expand(-1, -1, side, side)
        return self.net(torch.cat([images, label_map.to(images.dtype)], 1))

"""The paper's model: a U-Net generator conditioned on an image, noise and class, and a DenseNet
critic that scores same-class image pairs (Chen et al. 2021, sections II-B, II-C). Built from
explicit arguments; gaunet.training.loss_gaunet translates a config into them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gaunet.models.batch_renorm import deferred_renorm_updates
from gaunet.models.dense import DenseBlock, Transition, layer_norm
from gaunet.models.layers import LEAK, Downscale, ResidualBlock, Upscale, require_at_least
from gaunet.models.stacking import cat_channels


def level_widths(width: int, depth: int, width_max: int) -> list[int]:
    """U-Net schedule: the width doubles after each downsampling, capped at width_max."""
    return [min(width * 2**level, width_max) for level in range(depth)]


class NoiseMap(nn.Module):
    """Linear projection of z to a (channels, side, side) map that is concatenated to features."""

    def __init__(self, z_dim: int, channels: int, side: int) -> None:
        super().__init__()
        self.shape = (channels, side, side)
        self.linear = nn.Linear(z_dim, channels * side * side)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z).view(len(z), *self.shape)


class PixelNoise(nn.Module):
    """Per-pixel noise added to every channel of a feature map, each channel with its own learned
    strength (StyleGAN's noise inputs, Karras et al. 2019): a source of fine stochastic detail
    that projected noise channels, which the U-Net learns to ignore, do not give. The noise image
    is a fixed random projection of z (a buffer, never trained), so an output stays a function of
    (x, z, class) and seeded generation still reproduces it; its draws span z_dim directions."""

    def __init__(self, z_dim: int, channels: int, side: int, strength: float) -> None:
        super().__init__()
        self.side = side
        # own generator: the other layers' initialisation is the same with or without this
        seeded = torch.Generator().manual_seed(side)
        projection = torch.randn(z_dim, side * side, generator=seeded) / z_dim**0.5
        self.register_buffer("projection", projection)
        self.strength = nn.Parameter(torch.full((channels,), float(strength)))

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        noise = (z.to(self.projection.dtype) @ self.projection).view(
            len(z), 1, self.side, self.side
        )
        return h + self.strength.view(1, -1, 1, 1).to(h.dtype) * noise.to(h.dtype)


class UNetGenerator(nn.Module):
    """Encoder (`depth` residual blocks, each followed by a stride-2 convolution), a latent where
    projected noise and a class embedding are concatenated, and a decoder (`depth` residual
    blocks, each followed by a transposed convolution and the U-Net skip concatenation). Output:
    3x3 convolution and tanh, same size and channels as the input. A side that is not a multiple
    of 2**depth (28-px MedMNIST) is replicate-padded to the next multiple on the way in and
    cropped back on the way out, so the U-Net's skips line up.
    """

    def __init__(
        self,
        channels: int,
        size: int,
        num_classes: int,
        widths: list[int],
        convs: int,
        z_dim: int,
        noise_channels: int,
        class_embed_dim: int,
        decoder_noise_stages: int,
        dropout: float,
        norm: Callable[[int], nn.Module],
        skip_dropout: float = 0.0,
        pixel_noise: float = 0.0,
    ) -> None:
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be one or more widths of at least 1, not {widths}")
        require_at_least(
            1, channels=channels, size=size, num_classes=num_classes, convs=convs, z_dim=z_dim
        )
        require_at_least(
            0,
            noise_channels=noise_channels,
            class_embed_dim=class_embed_dim,
            decoder_noise_stages=decoder_noise_stages,
        )
        if not 0 <= skip_dropout < 1:
            raise ValueError(f"skip_dropout must be in [0, 1), not {skip_dropout}")
        if not (math.isfinite(pixel_noise) and pixel_noise >= 0):
            raise ValueError(
                f"pixel_noise must be a finite number >= 0 (0: off), not {pixel_noise}"
            )
        super().__init__()
        depth = len(widths)
        # whole skip feature maps dropped in training: the decoder must rebuild detail from the
        # latent (where the noise enters) instead of copying the input through the skips
        self.skip_dropout = nn.Dropout2d(skip_dropout) if skip_dropout > 0 else nn.Identity()
        self.size = size
        multiple = 2**depth
        self.padded = -(-size // multiple) * multiple
        self.stem = nn.Conv2d(channels, widths[0], 3, padding=1)
        self.encoder = nn.ModuleList()
        self.down = nn.ModuleList()
        previous = widths[0]
        for width in widths:
            self.encoder.append(ResidualBlock(previous, width, convs, norm))
            self.down.append(Downscale(width, width, dropout))
            previous = width
        latent_side = self.padded // multiple
        self.latent_noise = NoiseMap(z_dim, noise_channels, latent_side)
        self.class_embed = nn.Embedding(num_classes, class_embed_dim)
        self.decoder = nn.ModuleList()
        self.up = nn.ModuleList()
        self.decoder_noise = nn.ModuleList()
        # pixel_noise > 0: per-pixel noise after every upscaling, starting at that strength
        self.pixel_noise = nn.ModuleList()
        incoming = widths[-1] + noise_channels + class_embed_dim
        for stage, level in enumerate(reversed(range(depth))):
            if 0 < stage <= decoder_noise_stages:
                side = self.padded // 2 ** (level + 1)
                self.decoder_noise.append(NoiseMap(z_dim, noise_channels, side))
                incoming += noise_channels
            self.decoder.append(ResidualBlock(incoming, widths[level], convs, norm))
            self.up.append(Upscale(widths[level], widths[level], dropout, norm))
            if pixel_noise > 0:
                side = self.padded // 2**level
                self.pixel_noise.append(PixelNoise(z_dim, widths[level], side, pixel_noise))
            incoming = 2 * widths[level]  # upscaled features + skip
        self.head = nn.Sequential(nn.Conv2d(incoming, channels, 3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # batch renorm: its layers read together at the start, updated together at the end
        with deferred_renorm_updates(self):
            return self._forward(x, z, labels)

    def _forward(self, x: torch.Tensor, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.size, self.size):
            # another side was padded and cropped as if it were `size`: (N, C, 0, 0) came back
            raise ValueError(
                f"the generator was built for {self.size}x{self.size} images, "
                f"not {x.shape[-2]}x{x.shape[-1]}"
            )
        pad = self.padded - x.shape[-1]
        if pad:
            x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2), mode="replicate")
        h = self.stem(x)
        skips = []
        for block, down in zip(self.encoder, self.down):
            h = block(h)
            skips.append(h)
            h = down(h)
        side = h.shape[-1]
        label_map = self.class_embed(labels)[:, :, None, None].expand(-1, -1, side, side)
        h = cat_channels([h, self.latent_noise(z).to(h.dtype), label_map.to(h.dtype)])
        for stage, (block, up) in enumerate(zip(self.decoder, self.up)):
            if 0 < stage <= len(self.decoder_noise):
                h = cat_channels([h, self.decoder_noise[stage - 1](z).to(h.dtype)])
            h = up(block(h))
            if self.pixel_noise:
                h = self.pixel_noise[stage](h, z)
            h = cat_channels([h, self.skip_dropout(skips[-1 - stage])])
        out = self.head(h)
        if pad:
            out = out[..., pad // 2 : pad // 2 + self.size, pad // 2 : pad // 2 + self.size]
        return out


class DenseCritic(nn.Module):
    """DenseNet on the channel-concatenated pair: stem (with `stem_down` stride-2 convolutions),
    `blocks` x (dense block, transition),
    layer norm throughout, a linear head to one score; with `projection`, plus the inner
    product of a class embedding and the pooled features (projection discriminator).
    Given the image `size`, transitions stop pooling once the side is 1 pixel, so small images
    (the paper's /4 stem and four transitions at 28 px) still fit. With `pack` > 1 the second
    element holds `pack` images stacked on the channels (the packed critic, config critic_pack)."""

    def __init__(
        self,
        channels: int,
        num_classes: int,
        growth: int,
        blocks: int,
        layers: int,
        stem: int,
        dropout: float,
        projection: bool,
        stem_down: int = 0,
        size: int | None = None,
        keep_dtype_norm: bool = False,
        feature_buffer: bool = False,
        pack: int = 1,
    ) -> None:
        require_at_least(1, channels=channels, growth=growth, stem=stem, pack=pack)
        require_at_least(0, blocks=blocks, layers=layers, stem_down=stem_down)
        if projection:
            require_at_least(1, num_classes=num_classes)
        if size is not None and size < 2**stem_down:
            # each stem convolution halves the side (4x4, stride 2); the last needs 2+ pixels
            raise ValueError(
                f"stem_down {stem_down} halves size {size} below one pixel in the critic's "
                f"stem; at most {max(size.bit_length() - 1, 0)} at this size"
            )
        super().__init__()
        modules: list[nn.Module] = [nn.Conv2d((1 + pack) * channels, stem, 3, padding=1)]
        side = size or 2 ** (stem_down + blocks)
        for _ in range(stem_down):  # DenseNet's stem downsamples before the first dense block
            modules += [nn.LeakyReLU(LEAK), nn.Conv2d(stem, stem, 4, stride=2, padding=1)]
            side //= 2
        width = stem
        for _ in range(blocks):
            block = DenseBlock(
                width,
                growth,
                layers,
                dropout,
                feature_buffer=feature_buffer,
                keep_dtype_norm=keep_dtype_norm,
            )
            if block.out_channels < 2:
                raise ValueError(
                    f"the critic's transition would halve {block.out_channels} channel to none: "
                    "raise stem, layers or growth"
                )
            pool = side >= 2
            transition = Transition(
                block.out_channels, block.out_channels // 2, pool, keep_dtype_norm=keep_dtype_norm
            )
            modules += [block, transition]
            side = -(-side // 2) if pool else side
            width = block.out_channels // 2
        modules += [layer_norm(width, keep_dtype_norm), nn.LeakyReLU(LEAK)]
        self.features = nn.Sequential(*modules)
        self.head = nn.Linear(width, 1)
        self.embed = nn.Embedding(num_classes, width) if projection else None

    def forward(self, first: torch.Tensor, second: torch.Tensor, labels: torch.Tensor):
        pooled = self.features(cat_channels([first, second])).mean((2, 3))
        score = self.head(pooled).squeeze(1)
        if self.embed is not None:
            score = score + (self.embed(labels) * pooled).sum(1)
        return score.to(torch.promote_types(score.dtype, torch.float32))

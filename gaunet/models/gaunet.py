"""The paper's model: a U-Net generator conditioned on an image, noise and class, and a DenseNet
critic that scores same-class image pairs (Chen et al. 2021, sections II-B, II-C).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from gaunet.models import Batch, ModelFamily
from gaunet.models.layers import (
    LEAK,
    BatchRenorm2d,
    DenseBlock,
    Downscale,
    ResidualBlock,
    Transition,
    Upscale,
    layer_norm,
)
from gaunet.training.diffaugment import augment_pair, parse_policy
from gaunet.training.losses import gradient_penalty

if TYPE_CHECKING:
    from gaunet.config import TrainConfig


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
    ) -> None:
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
        incoming = widths[-1] + noise_channels + class_embed_dim
        for stage, level in enumerate(reversed(range(depth))):
            if 0 < stage <= decoder_noise_stages:
                side = self.padded // 2 ** (level + 1)
                self.decoder_noise.append(NoiseMap(z_dim, noise_channels, side))
                incoming += noise_channels
            self.decoder.append(ResidualBlock(incoming, widths[level], convs, norm))
            self.up.append(Upscale(widths[level], widths[level], dropout, norm))
            incoming = 2 * widths[level]  # upscaled features + skip
        self.head = nn.Sequential(nn.Conv2d(incoming, channels, 3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
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
        h = torch.cat([h, self.latent_noise(z).to(h.dtype), label_map.to(h.dtype)], 1)
        for stage, (block, up) in enumerate(zip(self.decoder, self.up)):
            if 0 < stage <= len(self.decoder_noise):
                h = torch.cat([h, self.decoder_noise[stage - 1](z).to(h.dtype)], 1)
            h = up(block(h))
            h = torch.cat([h, self.skip_dropout(skips[-1 - stage])], 1)
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
        pooled = self.features(torch.cat([first, second], 1)).mean((2, 3))
        score = self.head(pooled).squeeze(1)
        if self.embed is not None:
            score = score + (self.embed(labels) * pooled).sum(1)
        return score.to(torch.promote_types(score.dtype, torch.float32))


def build_generator(config: TrainConfig, num_classes: int) -> UNetGenerator:
    def norm(ch: int) -> BatchRenorm2d:
        return BatchRenorm2d(
            ch,
            momentum=config.brn_momentum,
            warmup=config.brn_warmup,
            ramp=config.brn_ramp,
            rmax=config.brn_rmax,
            dmax=config.brn_dmax,
        )

    return UNetGenerator(
        channels=config.channels,
        size=config.size,
        num_classes=num_classes,
        widths=level_widths(config.g_width, config.g_depth, config.g_width_max),
        convs=config.g_convs_per_block,
        z_dim=config.z_dim,
        noise_channels=config.noise_channels,
        class_embed_dim=config.class_embed_dim,
        decoder_noise_stages=config.decoder_noise_stages,
        dropout=config.g_dropout,
        norm=norm,
        skip_dropout=config.skip_dropout,
    )


def build_critic(config: TrainConfig, num_classes: int) -> DenseCritic:
    return DenseCritic(
        channels=config.channels,
        num_classes=num_classes,
        growth=config.d_growth,
        blocks=config.d_blocks,
        layers=config.d_layers_per_block,
        stem=config.d_stem,
        dropout=config.d_dropout,
        projection=config.d_projection,
        stem_down=config.d_stem_down,
        size=config.size,
        keep_dtype_norm=config.d_norm_keep_dtype,
        feature_buffer=config.d_feature_buffer,
        pack=config.critic_pack,
    )


def mode_seeking_ratio(fake: torch.Tensor, z: torch.Tensor, cap: float) -> torch.Tensor:
    """Mean over pairs of min(mean|G(x, z1) - G(x, z2)| / mean|z1 - z2|, cap), where the batch
    holds the two draws of each conditioning image as its first and second half. Rewarding it
    keeps the generator from ignoring z (DSGAN's form, Yang et al. 2019: capped so it cannot
    grow without bound)."""
    first, second = fake.float().chunk(2)
    z_first, z_second = z.float().chunk(2)
    image_gap = (first - second).abs().flatten(1).mean(1)
    noise_gap = (z_first - z_second).abs().mean(1)
    return (image_gap / noise_gap.clamp_min(1e-8)).clamp(max=cap).mean()


def within_class_shift(labels: torch.Tensor, shift: int) -> torch.Tensor:
    """Row permutation that sends each row to the row `shift` places further among the rows of
    its own class (cyclically): partners drawn this way never cross classes. A class with one
    row in the batch maps to itself."""
    order = torch.argsort(labels, stable=True)
    sorted_labels = labels[order]
    counts = torch.bincount(sorted_labels)
    starts = torch.cumsum(counts, 0) - counts
    start, size = starts[sorted_labels], counts[sorted_labels]
    moved = (torch.arange(len(labels), device=labels.device) - start + shift) % size + start
    permutation = torch.empty_like(order)
    permutation[order] = order[moved]
    return permutation


def pack_draws(images: torch.Tensor, pack: int) -> torch.Tensor:
    """(pack * N, C, H, W) in draw-major order -> (N, pack * C, H, W): draw k of row n on
    channels k*C:(k+1)*C."""
    _, c, h, w = images.shape
    return images.view(pack, -1, c, h, w).transpose(0, 1).reshape(-1, pack * c, h, w)


class GaunetFamily(ModelFamily):
    """Algorithm 1: real pair (x_i, x_j), fake pair (x_i, G(x_i, z, c)), WGAN-GP with the
    penalty on the second element interpolated between x_j and the generated image."""

    name = "gaunet"

    def score(self, critic, first: torch.Tensor, second: torch.Tensor, labels: torch.Tensor):
        """The critic's score of pairs, through DiffAugment when the config asks for it (real
        and fake pairs, the generator step and the penalty all go through here)."""
        if self.augment_policy:
            first, second = augment_pair(
                first, second, self.augment_policy, self.config.diffaugment_p
            )
        return critic(first, second, labels)

    @cached_property
    def augment_policy(self) -> tuple[str, ...]:
        """The DiffAugment policy, parsed once (score runs several times per step)."""
        return parse_policy(self.config.diffaugment)

    def build(self) -> tuple[nn.Module, nn.Module]:
        return build_generator(self.config, self.num_classes), build_critic(
            self.config, self.num_classes
        )

    def real_partners(self, batch: Batch) -> torch.Tensor:
        """x_j, and with critic_pack > 1 further same-class partners from the batch's other
        rows, stacked on the channels."""
        pack = self.config.critic_pack
        if pack == 1:
            return batch.x_j
        shifted = [batch.x_j[within_class_shift(batch.labels, k)] for k in range(1, pack)]
        return torch.cat([batch.x_j, *shifted], 1)

    def draws(self, generator, x_i: torch.Tensor, labels: torch.Tensor, count: int):
        """`count` noise draws per conditioning image in one forward pass, draw-major:
        (images (count * N, C, H, W), their noise)."""
        x, y = x_i.repeat(count, 1, 1, 1), labels.repeat(count)
        z = self.noise(len(x), x.device)
        return generator(x, z, y), z

    def critic_loss(self, generator, critic, batch: Batch, with_penalty: bool):
        pack = self.config.critic_pack
        with torch.no_grad():
            fake, _ = self.draws(generator, batch.x_i, batch.labels, pack)
            fake = pack_draws(fake, pack)
        partners = self.real_partners(batch)
        # real and fake pairs in one forward pass (twice the batch keeps a GPU busier); valid
        # because the critic has no batch statistics
        scores = self.score(
            critic,
            torch.cat([batch.x_i, batch.x_i]),
            torch.cat([partners, fake.to(partners.dtype)]),
            torch.cat([batch.labels, batch.labels]),
        )
        real_score, fake_score = scores.chunk(2)
        wasserstein = real_score.mean() - fake_score.mean()
        loss = -wasserstein
        stats = {"wasserstein": wasserstein.detach()}
        if with_penalty:
            cfg = self.config
            keep = max(1, round(cfg.gp_fraction * len(fake)))
            eager = getattr(critic, "_orig_mod", critic)  # the penalty needs double backward

            def augmented(first, second, labels):
                return self.score(eager, first, second, labels)

            penalty = gradient_penalty(
                augmented, batch.x_i[:keep], partners[:keep], fake[:keep], batch.labels[:keep]
            )
            loss = loss + cfg.gp_lambda * cfg.gp_every * penalty
            stats["gradient_penalty"] = penalty.detach()
        stats["loss_d"] = loss.detach()
        return loss, stats

    def generator_loss(self, generator, critic, batch: Batch):
        """The critic's verdict on generated images (packed draws with critic_pack > 1), minus
        the mode-seeking reward on the first two draws when diversity_lambda > 0."""
        pack, weight = self.config.critic_pack, self.config.diversity_lambda
        count = max(pack, 2 if weight > 0 else 1)
        fake, z = self.draws(generator, batch.x_i, batch.labels, count)
        if pack > 1:
            scored = self.score(critic, batch.x_i, pack_draws(fake, pack), batch.labels)
        else:
            repeat = (count, 1, 1, 1)
            scored = self.score(critic, batch.x_i.repeat(repeat), fake, batch.labels.repeat(count))
        loss = -scored.mean()
        if weight <= 0:
            return loss, {"loss_g": loss.detach()}
        diversity = mode_seeking_ratio(
            fake[: 2 * len(batch.x_i)], z[: 2 * len(batch.x_i)], self.config.diversity_cap
        )
        loss = loss - weight * diversity
        return loss, {"loss_g": loss.detach(), "diversity": diversity.detach()}

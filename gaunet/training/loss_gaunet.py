"""GAU-Net's training step (Chen et al. 2021, Algorithm 1): WGAN-GP on same-class pairs, with
the options the config adds (DiffAugment, a packed critic, a mode-seeking term). The networks
themselves are in gaunet.models.gaunet; here the config is translated into their arguments.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import torch
from torch import nn

from gaunet.models.batch_renorm import BatchRenorm2d
from gaunet.models.gaunet import DenseCritic, UNetGenerator, level_widths
from gaunet.training.diffaugment import augment_pair, parse_policy
from gaunet.training.loss import Batch, ModelFamily, gradient_penalty

if TYPE_CHECKING:
    from gaunet.config import TrainConfig


def build_generator(config: TrainConfig, num_classes: int) -> UNetGenerator:
    """The U-Net generator the config describes (batch renorm with the config's schedule)."""

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
        pixel_noise=config.pixel_noise,
    )


def build_critic(config: TrainConfig, num_classes: int) -> DenseCritic:
    """The DenseNet pair critic the config describes."""
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
    # each row's class block in the sorted rows, by search: static shapes and no host sync
    # (bincount's output length is data-dependent, and on CUDA it reads min/max on the host)
    start = torch.searchsorted(sorted_labels, sorted_labels, side="left")
    size = torch.searchsorted(sorted_labels, sorted_labels, side="right") - start
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
            keep = max(1, round(self.config.gp_fraction * len(fake)))
            eager = getattr(critic, "_orig_mod", critic)  # the penalty needs double backward

            def augmented(first, second, labels):
                return self.score(eager, first, second, labels)

            penalty = gradient_penalty(
                augmented, batch.x_i[:keep], partners[:keep], fake[:keep], batch.labels[:keep]
            )
            loss = loss + self.penalty.scale * penalty
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

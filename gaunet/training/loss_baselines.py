"""The baselines' training step (paper Figure 2): the non-saturating binary cross-entropy loss of
a vanilla GAN (Goodfellow et al. 2014) and a conditional GAN (Mirza & Osindero 2014), on the
DCGAN networks of gaunet.models.baselines, translated here from the config.

Neither baseline looks at the conditioning image: `sample` accepts it and ignores it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from gaunet.models.baselines import (
    ConditionalDiscriminator,
    ConditionalGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    PerClass,
)
from gaunet.training.loss import Batch, ModelFamily

if TYPE_CHECKING:
    from gaunet.config import TrainConfig


def generator_arguments(config: TrainConfig) -> dict[str, Any]:
    """The DCGAN generator's arguments: the U-Net's width settings are reused for it."""
    return {
        "channels": config.channels,
        "size": config.size,
        "z_dim": config.z_dim,
        "width": config.g_width,
        "width_max": config.g_width_max,
    }


def discriminator_arguments(config: TrainConfig) -> dict[str, Any]:
    """The DCGAN discriminator's arguments, input channels aside. The baselines have no width
    setting of their own: the discriminator's width at size / 2 is the critic's stem width
    (`d_stem`) and its cap the generator's (`g_width_max`)."""
    return {"size": config.size, "width": config.d_stem, "width_max": config.g_width_max}


def discriminator_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), averaged: BCE with targets 1 (real) and 0 (fake)."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_bce(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -log D(G(z)) (Goodfellow et al. 2014, section 3): strong
    gradients early, when the discriminator easily rejects the samples."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class _BCEFamily(ModelFamily):
    """Shared losses: the real image of a pair is x_j; x_i (GAU-Net's conditioning) is unused.
    There is no gradient penalty, so the trainer's `with_penalty` is ignored."""

    def generate(self, generator: nn.Module, n: int, labels: torch.Tensor) -> torch.Tensor:
        return generator(self.noise(n, labels.device), labels)

    def critic_loss(self, generator, critic, batch: Batch, with_penalty: bool):
        with torch.no_grad():
            fake = self.generate(generator, len(batch.labels), batch.labels)
        real_logits = critic(batch.x_j, batch.labels)
        fake_logits = critic(fake, batch.labels)
        loss = discriminator_bce(real_logits, fake_logits)
        stats = {
            "loss_d": loss.detach(),
            "d_real": torch.sigmoid(real_logits.detach()).mean(),
            "d_fake": torch.sigmoid(fake_logits.detach()).mean(),
        }
        return loss, stats

    def generator_loss(self, generator, critic, batch: Batch):
        fake = self.generate(generator, len(batch.labels), batch.labels)
        loss = generator_bce(critic(fake, batch.labels))
        return loss, {"loss_g": loss.detach()}

    def sample(self, generator, conditioning, labels, z):
        """Images of class `labels` from noise `z`; `conditioning` is ignored."""
        return generator(z, labels)


class GanFamily(_BCEFamily):
    """Vanilla GAN: an unconditional DCGAN per class, selected by the label."""

    name = "gan"

    def build(self) -> tuple[nn.Module, nn.Module]:
        cfg, classes = self.config, range(self.num_classes)
        # all generators first, then all discriminators: the order the weights are drawn in
        generators = [DCGANGenerator(**generator_arguments(cfg)) for _ in classes]
        critics = [
            DCGANDiscriminator(cfg.channels, **discriminator_arguments(cfg)) for _ in classes
        ]
        return PerClass(generators), PerClass(critics)


class CganFamily(_BCEFamily):
    """Conditional GAN: one DCGAN whose generator and discriminator both see the class."""

    name = "cgan"

    def build(self) -> tuple[nn.Module, nn.Module]:
        cfg, classes = self.config, self.num_classes
        generator = ConditionalGenerator(
            num_classes=classes, class_embed_dim=cfg.class_embed_dim, **generator_arguments(cfg)
        )
        critic = ConditionalDiscriminator(
            channels=cfg.channels,
            num_classes=classes,
            class_embed_dim=cfg.class_embed_dim,
            **discriminator_arguments(cfg),
        )
        return generator, critic

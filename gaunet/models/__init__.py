"""Model families: what the one trainer needs to know about a model, and nothing more.

A family (selected by `config.model`) builds its generator and critic and computes both losses
from a batch of same-class pairs, so the baselines (`gan`, `cgan`) plug in without touching the
loop. Families are registered by import path and imported only when used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from gaunet.errors import GaunetError

if TYPE_CHECKING:
    from gaunet.config import TrainConfig

FAMILIES = {
    "gaunet": "gaunet.models.gaunet:GaunetFamily",
    "gan": "gaunet.models.baselines:GanFamily",
    "cgan": "gaunet.models.baselines:CganFamily",
}


@dataclass
class Batch:
    """Same-class pairs in [-1, 1]: x_i conditions the generator, x_j is the real partner."""

    x_i: torch.Tensor
    x_j: torch.Tensor
    labels: torch.Tensor


class ModelFamily:
    """Interface every model family implements (see GaunetFamily for the reference one).

    Losses return (scalar loss, {name: detached scalar tensor}); the trainer sums the stats
    without a host sync and reads them only at log intervals.
    """

    name = "base"

    def __init__(self, config: TrainConfig, num_classes: int) -> None:
        self.config = config
        self.num_classes = num_classes

    def build(self) -> tuple[nn.Module, nn.Module]:
        """(generator, critic), freshly initialised from the current torch RNG."""
        raise NotImplementedError

    def noise(self, n: int, device: torch.device, generator: torch.Generator | None = None):
        """Latent noise for n samples (drawn from `generator` when given, else the global RNG)."""
        return torch.randn(n, self.config.z_dim, device=device, generator=generator)

    def critic_loss(
        self, generator: nn.Module, critic: nn.Module, batch: Batch, with_penalty: bool
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def generator_loss(
        self, generator: nn.Module, critic: nn.Module, batch: Batch
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def sample(
        self,
        generator: nn.Module,
        conditioning: torch.Tensor,
        labels: torch.Tensor,
        z: torch.Tensor,
    ) -> torch.Tensor:
        """Images in [-1, 1]; families that ignore the conditioning image still accept it."""
        return generator(conditioning, z, labels)


def get_family(name: str) -> type[ModelFamily]:
    """The family class registered under `name` (config.model)."""
    if name not in FAMILIES:
        raise GaunetError(f"unknown model {name!r} (known: {', '.join(FAMILIES)})")
    module_name, _, class_name = FAMILIES[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise GaunetError(f"model {name!r} is not available in this install ({error})") from error
    return getattr(module, class_name)


def build_family(config: TrainConfig, num_classes: int) -> ModelFamily:
    return get_family(config.model)(config, num_classes)

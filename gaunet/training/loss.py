"""What one training step of a model computes, beside the loop that runs it.

A model family (selected by `config.model`) builds its generator and critic from the config and
computes both losses from a batch of same-class pairs, so the baselines (`gan`, `cgan`) plug in
without touching the loop. Families are registered by import path and imported only when used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from gaunet.errors import GaunetError
from gaunet.models.stacking import in_function_transform

if TYPE_CHECKING:
    from gaunet.config import TrainConfig

FAMILIES = {
    "gaunet": "gaunet.training.loss_gaunet:GaunetFamily",
    "gan": "gaunet.training.loss_baselines:GanFamily",
    "cgan": "gaunet.training.loss_baselines:CganFamily",
}


@dataclass
class Batch:
    """Same-class pairs in [-1, 1]: x_i conditions the generator, x_j is the real partner."""

    x_i: torch.Tensor
    x_j: torch.Tensor
    labels: torch.Tensor


@dataclass(frozen=True)
class LazyPenalty:
    """When the gradient penalty runs and what it weighs, decided here only: on every `every`-th
    critic step, weighted `weight * every`, so its mean weight per critic step stays `weight`
    (lazy regularisation, Karras et al. 2020); `every` = 1 is the paper's penalty at every step.
    """

    weight: float
    every: int = 1

    def due(self, critic_step: int) -> bool:
        """Whether the penalty runs at this critic step (counted over the whole run)."""
        return critic_step % self.every == 0

    @property
    def scale(self) -> float:
        """The weight of a penalty that runs: it stands in for the `every` steps until the next."""
        return self.weight * self.every


class ModelFamily:
    """Interface every model family implements (see GaunetFamily for the reference one).

    Losses return (scalar loss, {name: detached scalar tensor}); the trainer sums the stats
    without a host sync and reads them only at log intervals.
    """

    name = "base"

    def __init__(self, config: TrainConfig, num_classes: int) -> None:
        self.config = config
        self.num_classes = num_classes
        self.penalty = LazyPenalty(config.gp_lambda, config.gp_every)

    def build(self) -> tuple[nn.Module, nn.Module]:
        """(generator, critic), freshly initialised from the current torch RNG."""
        raise NotImplementedError

    def noise(self, n: int, device: torch.device, generator: torch.Generator | None = None):
        """Latent noise for n samples (drawn from `generator` when given, else the global RNG)."""
        return torch.randn(n, self.config.z_dim, device=device, generator=generator)

    def critic_loss(
        self, generator: nn.Module, critic: nn.Module, batch: Batch, with_penalty: bool
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """`with_penalty`: `self.penalty.due(critic_step)`; a penalty adds `penalty.scale` x it."""
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


def gradient_penalty(
    critic: Callable[..., torch.Tensor],
    first: torch.Tensor,
    real_second: torch.Tensor,
    fake_second: torch.Tensor,
    labels: torch.Tensor,
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017, paper eq. 5): mean over samples of
    (||grad_x D(first, x)|| - 1)^2 at x = eps * real + (1 - eps) * fake.

    Only the second element is interpolated: the first (the conditioning image) is the same in
    the real and the fake pair, so the critic's Lipschitz constraint is needed along the second.
    The norm runs over all pixels and channels of one sample; eps ~ U(0, 1) per sample.
    A torch.compile'd critic is unwrapped: compiled graphs do not support double backward.
    """
    critic = getattr(critic, "_orig_mod", critic)
    eps = torch.rand(len(first), 1, 1, 1, device=first.device, dtype=real_second.dtype)
    mixed = eps * real_second.detach() + (1 - eps) * fake_second.detach()
    first = first.detach()
    if in_function_transform():  # stacked models (training/stacked.py): autograd.grad cannot
        # run under vmap; torch.func.grad gives the same gradient, still differentiable
        grad = torch.func.grad(lambda x: critic(first, x, labels).sum())(mixed)
    else:
        mixed.requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(first, mixed, labels).sum(), mixed, create_graph=True)
    grad = grad.flatten(1)
    norm = grad.to(torch.promote_types(grad.dtype, torch.float32)).norm(2, dim=1)
    return ((norm - 1.0) ** 2).mean()

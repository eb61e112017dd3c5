"""Loss terms shared by the model families: the WGAN-GP gradient penalty (Gulrajani et al.
2017, paper eq. 5), applied to the second element of the critic's pair."""

from __future__ import annotations

from collections.abc import Callable

import torch


def gradient_penalty(
    critic: Callable[..., torch.Tensor],
    first: torch.Tensor,
    real_second: torch.Tensor,
    fake_second: torch.Tensor,
    labels: torch.Tensor,
) -> torch.Tensor:
    """Mean over samples of (||grad_x D(first, x)|| - 1)^2 at x = eps * real + (1 - eps) * fake.

    Only the second element is interpolated: the first (the conditioning image) is the same in
    the real and the fake pair, so the critic's Lipschitz constraint is needed along the second.
    The norm runs over all pixels and channels of one sample; eps ~ U(0, 1) per sample.
    A torch.compile'd critic is unwrapped: compiled graphs do not support double backward.
    """
    critic = getattr(critic, "_orig_mod", critic)
    eps = torch.rand(len(first), 1, 1, 1, device=first.device, dtype=real_second.dtype)
    mixed = (eps * real_second.detach() + (1 - eps) * fake_second.detach()).requires_grad_(True)
    score = critic(first.detach(), mixed, labels)
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    grad = grad.flatten(1)
    norm = grad.to(torch.promote_types(grad.dtype, torch.float32)).norm(2, dim=1)
    return ((norm - 1.0) ** 2).mean()

"""The short layer norm without a bias, or without any affine (nn.GroupNorm(1, C, affine=False)):
its backward under create_graph, which the gradient penalty runs, failed with a RuntimeError
(a bias gradient returned for a bias that is None; dy returned as is and saved)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gaunet.models.penalty_norm import penalty_layer_norm


@pytest.mark.parametrize("affine", ["weight only", "none"])
def test_short_form_double_backward_without_bias_matches_group_norm(affine: str):
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5, 5, dtype=torch.double, requires_grad=True)
    weight = torch.randn(4, dtype=torch.double, requires_grad=True) if affine != "none" else None
    inputs = [t for t in (x, weight) if t is not None]
    probe = torch.randn(3, 4, 5, 5, dtype=torch.double)

    def penalty(norm):
        y = norm(x)
        (dx,) = torch.autograd.grad((y * probe).sum(), [x], create_graph=True)
        return torch.autograd.grad(dx.square().sum(), inputs)

    short = penalty(lambda t: penalty_layer_norm(t, weight, None, form="short"))
    native = penalty(lambda t: F.group_norm(t, 1, weight, None))
    for mine, theirs in zip(short, native):
        torch.testing.assert_close(mine, theirs)
    assert torch.autograd.gradgradcheck(
        lambda t, *w: penalty_layer_norm(t, w[0] if w else None, None, form="short"), inputs
    )

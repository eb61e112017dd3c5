"""gaunet.models.stacking: stacked models' channel concatenation under vmap."""

import collections

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from gaunet.models.penalty_norm import penalty_layer_norm
from gaunet.models.stacking import cat_channels


def _models_input(tensor: torch.Tensor, dim: int | None) -> torch.Tensor:
    """G models' (G, ...) tensor with the model dimension at `dim` (None: one shared tensor)."""
    return tensor[0] if dim is None else tensor.movedim(0, dim)


@pytest.mark.parametrize("dims", [(0, 0), (1, 0), (0, None), (1, 1)])
def test_cat_channels_under_vmap_is_torch_cat(dims):
    """Stacked models' channel concatenation (its result laid out (N, G, C, ...)): values,
    gradients and the penalty's double backward (torch.func.grad inside vmap, then a backward
    outside) as torch.cat's, whatever dimension the inputs carry the models in."""
    torch.manual_seed(7)
    a = torch.randn(3, 2, 3, 4, 4, dtype=torch.float64)
    b = torch.randn(3, 2, 5, 4, 4, dtype=torch.float64)
    upstream = torch.randn(3, 2, 8, 4, 4, dtype=torch.float64)

    def step(cat):
        leaves = [_models_input(a, dims[0]), _models_input(b, dims[1])]
        leaves = [t.detach().requires_grad_(True) for t in leaves]

        def one(a, b, upstream):
            def score(a):
                return (cat([a, b]).square() * upstream).sum()

            return torch.func.grad(score)(a).square().sum() + score(a)

        loss = torch.func.vmap(one, in_dims=(*dims, 0))(*leaves, upstream)
        return loss, torch.autograd.grad(loss.sum(), leaves)

    ours, theirs = step(cat_channels), step(lambda t: torch.cat(t, 1))
    torch.testing.assert_close(ours[0], theirs[0])
    for mine, reference in zip(ours[1], theirs[1]):
        torch.testing.assert_close(mine, reference)
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(cat_channels([x, x * 2]), torch.cat([x, x * 2], 1))


class _OpNames(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.names: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def test_a_norm_reads_stacked_models_cat_channels_without_a_copy():
    """Under vmap a layer norm after cat_channels (as in a dense block) copies nothing, where
    after torch.cat (the model dimension first) it copies its input to lay the models side by
    side."""
    torch.manual_seed(8)
    a, b = torch.randn(3, 2, 3, 4, 4), torch.randn(3, 2, 5, 4, 4)
    weight, bias = torch.rand(3, 8) + 0.5, torch.randn(3, 8)

    def clones(cat) -> int:
        def one(a, b, weight, bias):
            return penalty_layer_norm(cat([a, b]), weight, bias, form="short")

        with _OpNames() as ops:
            out = torch.func.vmap(one, in_dims=(1, 1, 0, 0))(
                a.movedim(0, 1), b.movedim(0, 1), weight, bias
            )
        reference = [
            F.group_norm(torch.cat([a[k], b[k]], 1), 1, weight[k], bias[k]) for k in range(3)
        ]
        torch.testing.assert_close(out, torch.stack(reference))
        return ops.names["clone"]

    assert clones(cat_channels) == 0
    assert clones(lambda t: torch.cat(t, 1)) >= 1

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gaunet.models.layers import AvgPool2x2, BatchRenorm2d, DenseBlock, Dropout, ResidualBlock


def _pair(channels=3, **kwargs):
    torch.manual_seed(0)
    renorm = BatchRenorm2d(channels, momentum=0.1, **kwargs)
    norm = nn.BatchNorm2d(channels, momentum=0.1)
    with torch.no_grad():
        renorm.weight.uniform_(0.5, 1.5)
        renorm.bias.uniform_(-0.5, 0.5)
        norm.weight.copy_(renorm.weight)
        norm.bias.copy_(renorm.bias)
    return renorm, norm


def test_batch_renorm_equals_batch_norm_during_warmup():
    renorm, norm = _pair(warmup=100)  # r_max = 1, d_max = 0 throughout
    for step in range(4):
        x = torch.randn(8, 3, 5, 5) * (step + 1) + step
        x_bn = x.clone().requires_grad_(True)
        x_brn = x.clone().requires_grad_(True)
        out_bn, out_brn = norm(x_bn), renorm(x_brn)
        torch.testing.assert_close(out_brn, out_bn, rtol=1e-4, atol=1e-5)
        out_bn.square().sum().backward()
        out_brn.square().sum().backward()
        torch.testing.assert_close(x_brn.grad, x_bn.grad, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(renorm.weight.grad, norm.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(renorm.running_mean, norm.running_mean)
    torch.testing.assert_close(renorm.running_var, norm.running_var)
    renorm.eval(), norm.eval()
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(renorm(x), norm(x), rtol=1e-4, atol=1e-5)


def test_batch_renorm_corrects_toward_running_statistics_after_warmup():
    renorm, norm = _pair(warmup=0, ramp=1, rmax=3.0, dmax=5.0)
    renorm.num_batches_tracked.fill_(10)  # schedule finished
    assert renorm.limits() == (3.0, 5.0)
    x = torch.randn(16, 3, 4, 4) * 2 + 1  # far from running stats (0, 1)
    out = renorm(x)
    # with r, d: the output is normalized by the running statistics (clip not reached here)
    expected = (x - 0.0) / (1.0 + 1e-5) ** 0.5
    expected = expected * renorm.weight[None, :, None, None] + renorm.bias[None, :, None, None]
    torch.testing.assert_close(out, expected, rtol=1e-3, atol=1e-3)
    assert not torch.allclose(out, norm(x), atol=1e-2)


def _renorm_reference(layer, x):
    """Ioffe's batch renormalization written out (the layer's pre-fusion arithmetic)."""
    dims = (0, 2, 3)
    mean, var = x.mean(dims), x.var(dims, unbiased=False)
    std = (var + layer.eps).sqrt()
    running_std = (layer.running_var + layer.eps).sqrt()
    r_max, d_max = layer.limits()
    r = (std.detach() / running_std).clamp(1 / r_max, r_max)
    d = ((mean.detach() - layer.running_mean) / running_std).clamp(-d_max, d_max)
    x_hat = (x - mean[None, :, None, None]) / std[None, :, None, None]
    x_hat = x_hat * r[None, :, None, None] + d[None, :, None, None]
    return x_hat * layer.weight[None, :, None, None] + layer.bias[None, :, None, None]


@pytest.mark.parametrize("passes", [0, 15, 100])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_batch_renorm_values_and_gradients_match_the_written_out_formula(passes, dtype):
    """r and d active (clipped or not) after warm-up: outputs, input and affine gradients."""
    layer, _ = _pair(warmup=10, ramp=20, rmax=1.5, dmax=0.5)
    layer.num_batches_tracked.fill_(passes)
    with torch.no_grad():
        layer.running_mean.copy_(torch.tensor([0.5, -0.2, 1.0]))
        layer.running_var.copy_(torch.tensor([0.8, 2.0, 0.3]))
    reference = _pair(warmup=10, ramp=20, rmax=1.5, dmax=0.5)[0]
    reference.load_state_dict(layer.state_dict())
    layer = layer.to(torch.float64 if dtype == torch.float64 else torch.float32)
    reference = reference.to(torch.float64)
    x = (torch.randn(12, 3, 5, 5, dtype=torch.float64) * 1.7 + 0.4).to(dtype)
    x_ours, x_ref = x.clone().requires_grad_(True), x.double().requires_grad_(True)
    out, expected = layer(x_ours), _renorm_reference(reference, x_ref)
    tol = {
        torch.bfloat16: {"rtol": 2e-2, "atol": 2e-2},
        torch.float32: {"rtol": 1e-4, "atol": 1e-5},
    }
    tol = tol.get(dtype, {})
    torch.testing.assert_close(out.double(), expected, **tol)
    upstream = torch.randn_like(expected)
    out.double().backward(upstream)
    expected.backward(upstream)
    torch.testing.assert_close(x_ours.grad.double(), x_ref.grad, **tol)
    torch.testing.assert_close(layer.weight.grad.double(), reference.weight.grad, **tol)
    torch.testing.assert_close(layer.bias.grad.double(), reference.bias.grad, **tol)
    assert layer.num_batches_tracked.item() == passes + 1


@pytest.mark.parametrize(
    "passes, expected", [(0, (1.0, 0.0)), (10, (1.0, 0.0)), (20, (2.0, 2.5)), (40, (3.0, 5.0))]
)
def test_renorm_schedule(passes, expected):
    layer = BatchRenorm2d(2, warmup=10, ramp=20, rmax=3.0, dmax=5.0)
    layer.num_batches_tracked.fill_(passes)
    assert layer.limits() == pytest.approx(expected)


def test_residual_and_dense_blocks_shapes():
    block = ResidualBlock(3, 6, convs=2, norm=nn.BatchNorm2d)
    assert block(torch.randn(2, 3, 8, 8)).shape == (2, 6, 8, 8)
    dense = DenseBlock(4, growth=3, layers=4, dropout=0.0)
    assert dense(torch.randn(2, 4, 8, 8)).shape == (2, 4 + 12, 8, 8) and dense.out_channels == 16


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5, 0.9])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dropout_drops_at_rate_p_and_keeps_the_expectation(p, dtype):
    torch.manual_seed(0)
    drop = Dropout(p).train()
    out = drop(torch.ones(400_000, dtype=dtype))
    assert out.dtype == dtype
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - p) < 0.005
    kept = out[out != 0].float()
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / (1 - p)), rtol=1e-2, atol=0)
    assert abs(out.float().mean().item() - 1.0) < 0.02


def test_dropout_gradient_is_the_mask_and_eval_is_identity():
    torch.manual_seed(1)
    drop = Dropout(0.3).train()
    x = torch.randn(6, 5, 7, 7, requires_grad=True)
    out = drop(x)
    out.sum().backward()
    torch.testing.assert_close(x.grad, out.detach() / x.detach())
    drop.eval()
    assert torch.equal(drop(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)


def test_dropout_follows_the_global_seed():
    x = torch.randn(3, 4, 9, 9)
    torch.manual_seed(5)
    first = Dropout(0.2).train()(x)
    torch.manual_seed(5)
    assert torch.equal(Dropout(0.2).train()(x), first)
    assert not torch.equal(Dropout(0.2).train()(x), first)


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_dropout_rejects_bad_probability(p):
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(p)


@pytest.mark.parametrize("side", [(8, 8), (7, 7), (6, 5), (2, 2), (1, 1)])
def test_avg_pool_matches_torch_with_double_backward(side):
    torch.manual_seed(2)
    x = torch.randn(3, 4, *side, dtype=torch.float64, requires_grad=True)
    ours, theirs = AvgPool2x2()(x), F.avg_pool2d(x, 2, ceil_mode=True)
    torch.testing.assert_close(ours, theirs)
    (g_ours,) = torch.autograd.grad(ours.square().sum(), x, create_graph=True)
    (g_theirs,) = torch.autograd.grad(theirs.square().sum(), x, create_graph=True)
    torch.testing.assert_close(g_ours, g_theirs)
    assert torch.autograd.gradcheck(lambda t: AvgPool2x2()(t), (x,))
    assert torch.autograd.gradgradcheck(lambda t: AvgPool2x2()(t), (x,))

import pytest
import torch
from torch import nn

from gaunet.models.layers import BatchRenorm2d, DenseBlock, ResidualBlock


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

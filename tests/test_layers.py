"""gaunet.models.layers and gaunet.models.dense: the generator's and the critic's blocks, the
critic's dropout, pooling and layer norms, and the dense block's feature buffer."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gaunet.models.dense import (
    AvgPool2x2,
    DenseBlock,
    Dropout,
    LayerNorm2d,
    layer_norm,
    use_critic_levers,
)
from gaunet.models.layers import ResidualBlock
from gaunet.models.penalty_norm import PenaltyLayerNorm


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


# ----- issue 17: the bf16 layer-norm path and the dense-block feature buffer -------------------


KERNELS = ["batch_norm", "group_norm"]  # CUDA's form (tested here on the CPU) and the CPU's


def _norms(channels=6, eps=1e-5, kernel="batch_norm"):
    """A LayerNorm2d and the GroupNorm(1, C) reference with the same random affine."""
    torch.manual_seed(3)
    ours = LayerNorm2d(channels, eps=eps, kernel=kernel)
    reference = nn.GroupNorm(1, channels, eps=eps)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 1.5)
        ours.bias.uniform_(-0.5, 0.5)
    reference.load_state_dict(ours.state_dict())
    return ours, reference


def _penalty_like(norm, x):
    """Output, input gradient (create_graph) and a penalty-style second-order loss, as the
    WGAN-GP critic step uses them."""
    out = norm(x)
    score = (out.float() * torch.linspace(-1, 1, out[0].numel()).view(out[0].shape)).sum()
    (grad,) = torch.autograd.grad(score, x, create_graph=True)
    penalty = (grad.float().flatten(1).norm(dim=1) - 1).square().mean()
    return out, grad, penalty


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "prefix"])
def test_layer_norm_2d_equals_group_norm_in_fp64_with_double_backward(layout, kernel):
    ours, reference = (m.double() for m in _norms(kernel=kernel))
    base = torch.randn(4, 9, 5, 7, dtype=torch.float64) * 2.5 + 1.5
    x = {
        "contiguous": base[:, :6].contiguous(),
        "channels_last": base[:, :6].contiguous(memory_format=torch.channels_last),
        "prefix": base[:, :6],  # a dense-block buffer's channel prefix: strided, not copied
    }[layout].requires_grad_(True)
    out = ours(x)
    torch.testing.assert_close(out, reference(x))
    if layout == "channels_last":
        assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.autograd.gradcheck(ours, (x,))
    assert torch.autograd.gradgradcheck(ours, (x,))
    for norm in (ours, reference):
        _, _, penalty = _penalty_like(norm, x)
        penalty.backward()
    torch.testing.assert_close(ours.weight.grad, reference.weight.grad)
    torch.testing.assert_close(ours.bias.grad, reference.bias.grad)


@pytest.mark.parametrize("kernel", KERNELS)
def test_layer_norm_2d_keeps_bf16_and_matches_the_fp32_path_within_bf16_rounding(kernel):
    """bf16 activations stay bf16 (under autocast too), statistics in fp32; values, gradients and
    the penalty's double-backward gradients are those of fp32 group norm on the same input."""
    ours, reference = _norms(channels=16, kernel=kernel)
    x32 = (torch.randn(8, 16, 12, 12) * 3 + 2).bfloat16().float()  # exactly representable
    x16 = x32.bfloat16().requires_grad_(True)
    x32.requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert ours(x16).dtype == torch.bfloat16
    out16, grad16, penalty16 = _penalty_like(ours, x16)
    out32, grad32, penalty32 = _penalty_like(reference, x32)
    assert out16.dtype == grad16.dtype == torch.bfloat16
    bf16 = {"rtol": 2e-2, "atol": 2e-2}
    torch.testing.assert_close(out16.float(), out32, **bf16)
    scale = grad32.abs().max()
    torch.testing.assert_close(grad16.float() / scale, grad32 / scale, **bf16)
    torch.testing.assert_close(penalty16, penalty32, rtol=2e-2, atol=1e-3)
    penalty16.backward()
    penalty32.backward()
    for mine, theirs in ((x16.grad, x32.grad), (ours.weight.grad, reference.weight.grad)):
        scale = theirs.abs().max()
        torch.testing.assert_close(mine.float() / scale, theirs / scale, **bf16)
    torch.testing.assert_close(ours.bias.grad, reference.bias.grad, rtol=2e-2, atol=2e-3)
    assert ours.weight.grad.dtype == torch.float32  # the parameters stay fp32


def test_layer_norm_factory_defaults_to_group_norm_and_shares_state_dict_keys():
    default, kept = layer_norm(5), layer_norm(5, keep_dtype=True)
    assert type(default) is PenaltyLayerNorm and default.num_groups == 1
    assert isinstance(kept, LayerNorm2d) and kept.kernel == "auto"
    kept.load_state_dict(default.state_dict())  # checkpoints load into either
    nn.GroupNorm(1, 5).load_state_dict(default.state_dict())  # and into checkpoints of before
    with pytest.raises(ValueError, match="kernel must be"):
        LayerNorm2d(5, kernel="fused")


def _dense_pair(**kwargs):
    torch.manual_seed(4)
    concatenating = DenseBlock(5, growth=3, layers=4, dropout=0.2, **kwargs)
    buffered = DenseBlock(5, growth=3, layers=4, dropout=0.2, feature_buffer=True, **kwargs)
    buffered.load_state_dict(concatenating.state_dict())
    assert not concatenating.feature_buffer  # the default is today's torch.cat
    return concatenating, buffered


def _dense_run(block, x, seed=11):
    torch.manual_seed(seed)  # the same dropout mask in both
    x = x.detach().clone().requires_grad_(True)
    out = block(x)
    weights = torch.linspace(-1, 1, out[0].numel()).view(out[0].shape)
    score = (out.float() * weights).sum()
    (grad,) = torch.autograd.grad(score, x, create_graph=True)
    penalty = (grad.float().flatten(1).norm(dim=1) - 1).square().mean()
    block.zero_grad()
    (score + penalty).backward()
    params = [p.grad.clone() for p in block.parameters()]
    return out.detach(), grad.detach(), x.grad.clone(), params


@pytest.mark.parametrize(
    "dtype, layout, autocast",
    [
        (torch.float64, "contiguous", False),
        (torch.float32, "contiguous", False),
        (torch.float32, "channels_last", False),
        (torch.float32, "contiguous", True),
    ],
)
def test_dense_block_feature_buffer_equals_concatenation_bit_for_bit(dtype, layout, autocast):
    """Values, input gradient, and the double-backward gradients of a penalty-style loss (input
    and every parameter) are identical: the buffer holds exactly what torch.cat builds."""
    concatenating, buffered = (m.to(dtype) for m in _dense_pair())
    x = torch.randn(3, 5, 8, 8, dtype=dtype)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
        concatenating, buffered = (
            m.to(memory_format=torch.channels_last) for m in (concatenating, buffered)
        )
    context = (
        torch.autocast("cpu", dtype=torch.bfloat16)
        if autocast
        else torch.autocast("cpu", enabled=False)
    )
    with context:
        expected, got = _dense_run(concatenating, x), _dense_run(buffered, x)
    assert got[0].dtype == expected[0].dtype
    if layout == "channels_last":
        assert got[0].is_contiguous(memory_format=torch.channels_last)
    for mine, theirs in zip(got[:3], expected[:3]):
        assert torch.equal(mine, theirs)
    for mine, theirs in zip(got[3], expected[3]):
        assert torch.equal(mine, theirs)


@pytest.mark.parametrize("kernel", KERNELS)
def test_dense_block_feature_buffer_with_the_bf16_norm_in_gradgradcheck(kernel):
    """The GPU combination (buffer prefixes read by the batch-norm form without a copy) and the
    CPU one: first and second derivatives against finite differences."""
    _, buffered = _dense_pair(keep_dtype_norm=True)
    buffered = buffered.double().eval()  # eval: no dropout, a deterministic function
    for norm in buffered.modules():
        if isinstance(norm, LayerNorm2d):
            norm.kernel = kernel
    x = torch.randn(2, 5, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(buffered, (x,))
    assert torch.autograd.gradgradcheck(buffered, (x,))


def test_critic_levers_switch_in_place_and_keep_the_critic():
    """use_critic_levers on a built critic: same Parameter objects (the optimizer keeps them),
    the same scores (bit for bit with the buffer; within fp32 rounding with the new norm)."""
    from gaunet.config import load_config
    from gaunet.training.loss_gaunet import build_critic

    cfg = load_config("cpu-tiny", {"size": 16, "d_growth": 4, "d_stem": 4})
    torch.manual_seed(0)
    critic = build_critic(cfg, 2).eval()
    first, second = torch.randn(3, 1, 16, 16), torch.randn(3, 1, 16, 16)
    labels = torch.tensor([0, 1, 0])
    before = critic(first, second, labels)
    params = list(critic.parameters())
    assert use_critic_levers(critic, feature_buffer=True) == cfg.d_blocks
    assert torch.equal(critic(first, second, labels), before)
    norms = sum(type(m) is PenaltyLayerNorm for m in critic.modules())
    assert use_critic_levers(critic, keep_dtype_norm=True) == norms > 0
    assert not any(type(m) is nn.GroupNorm for m in critic.modules())
    assert all(a is b for a, b in zip(critic.parameters(), params))
    torch.testing.assert_close(critic(first, second, labels), before, rtol=1e-4, atol=1e-5)

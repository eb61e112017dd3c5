"""PenaltyLayerNorm: nn.GroupNorm(1, C)'s values, gradients and double backward; its short form
(what CUDA runs, tested here on the CPU too) in fewer kernels."""

import sys
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gaunet.models.penalty_norm import PenaltyLayerNorm
from gaunet.models.penalty_norm import penalty_layer_norm as layer_norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from stacked_generators import OpCount  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
LAYOUTS = ["contiguous", "channels_last", "prefix", "channels_last_prefix"]
short_form = partial(layer_norm, form="short")


def _input(layout, dtype=torch.float64, device="cpu"):
    """(4, 6, 5, 7) in the layouts a critic hands its norms: a dense-block buffer's channel
    prefix is a strided view, not a copy."""
    torch.manual_seed(2)
    base = torch.randn(4, 9, 5, 7, dtype=dtype, device=device) * 2.5 + 1.5
    x = {
        "contiguous": base[:, :6].contiguous(),
        "channels_last": base[:, :6].contiguous(memory_format=torch.channels_last),
        "prefix": base[:, :6],
        "channels_last_prefix": base.contiguous(memory_format=torch.channels_last)[:, :6],
    }[layout]
    return x.requires_grad_(True)


def _affine(dtype=torch.float64, device="cpu"):
    torch.manual_seed(3)
    weight = torch.empty(6, dtype=dtype, device=device).uniform_(0.5, 1.5)
    bias = torch.empty(6, dtype=dtype, device=device).uniform_(-0.5, 0.5)
    return weight.requires_grad_(True), bias.requires_grad_(True)


def _group_norm(x, weight, bias):
    return F.group_norm(x, 1, weight, bias, 1e-5)


def _penalty_step(norm, x, weight, bias):
    """A WGAN-GP-style critic loss through the norm: score, its input gradient with
    create_graph, the penalty on it, then one backward of both; every gradient it leaves."""
    out = norm(x, weight, bias)
    score = (
        out.float() * torch.linspace(-1, 1, out[0].numel(), device=x.device).view(out[0].shape)
    ).sum()
    (grad,) = torch.autograd.grad(score, x, create_graph=True)
    penalty = (grad.float().flatten(1).norm(dim=1) - 1).square().mean()
    leaves = (x, weight, bias)
    for leaf in leaves:
        leaf.grad = None
    (score + 10 * penalty).backward()
    return out.detach(), grad.detach(), [leaf.grad.clone() for leaf in leaves]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_values_and_plain_gradients_are_group_norms_bit_for_bit(device, layout):
    """Forward and the backward without create_graph run nn.GroupNorm's own fused kernels."""
    x = _input(layout, torch.float32, device)
    weight, bias = _affine(torch.float32, device)
    upstream = torch.randn(x.shape, device=device)
    results = []
    for norm in (short_form, _group_norm):
        out = norm(x, weight, bias)
        results.append((out, *torch.autograd.grad(out, (x, weight, bias), upstream)))
    for ours, theirs in zip(*results):
        assert torch.equal(ours, theirs)
    assert results[0][0].stride() == results[1][0].stride()


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("affine", [True, False])
def test_gradcheck_and_gradgradcheck_in_fp64(layout, affine):
    """The written-out backward and double backward against finite differences, for the input
    and the affine parameters (the penalty's double backward reaches all three)."""
    x = _input(layout)
    weight, bias = _affine() if affine else (None, None)
    inputs = (x, weight, bias) if affine else (x,)

    def norm(x, *params):
        return short_form(x, *(params or (None, None)))

    assert torch.autograd.gradcheck(norm, inputs)
    assert torch.autograd.gradgradcheck(norm, inputs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(
    "dtype, tolerance", [(torch.float64, {}), (torch.float32, {"rtol": 1e-4, "atol": 1e-4})]
)
def test_the_penalty_step_equals_group_norms(device, layout, dtype, tolerance):
    """Output, input gradient and every gradient of score + penalty equal nn.GroupNorm's (fp32:
    within rounding, the arithmetic is ordered differently)."""
    x = _input(layout, dtype, device)
    weight, bias = _affine(dtype, device)
    ours = _penalty_step(short_form, x, weight, bias)
    theirs = _penalty_step(_group_norm, x, weight, bias)
    torch.testing.assert_close(ours[0], theirs[0], **tolerance)
    torch.testing.assert_close(ours[1], theirs[1], **tolerance)
    for mine, reference in zip(ours[2], theirs[2]):
        torch.testing.assert_close(mine, reference, **tolerance)


@pytest.mark.parametrize("device", DEVICES)
def test_autocast_dtypes_are_group_norms(device):
    """Under bf16 autocast the output dtype is F.group_norm's: bf16 input stays bf16 on the CPU
    (its mixed-type kernel, fp32 statistics), CUDA autocast normalises in fp32; the penalty
    step's gradients agree within bf16 rounding."""
    x = _input("contiguous", torch.bfloat16, device).detach().requires_grad_(True)
    weight, bias = _affine(torch.float32, device)
    results = []
    for norm in (short_form, _group_norm):
        with torch.autocast(device, dtype=torch.bfloat16):
            results.append(_penalty_step(norm, x, weight, bias))
    (out, grad, leaves), (ref_out, ref_grad, ref_leaves) = results
    assert out.dtype == ref_out.dtype == (torch.bfloat16 if device == "cpu" else torch.float32)
    assert grad.dtype == ref_grad.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref_out.float(), rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(grad.float(), ref_grad.float(), rtol=5e-2, atol=5e-2)
    for mine, reference in zip(leaves, ref_leaves):
        assert (mine.float() - reference.float()).norm() <= 0.05 * reference.float().norm()


def test_the_penalty_path_launches_about_half_of_group_norms_kernels():
    """Forward, backward with create_graph and the double backward, with the toy loss's own
    ops, counted as benchmarks/kernel_count.py counts them: F.group_norm 96, the short form 44
    (49 until the penalty's input gradient was folded, 2026-12-05)."""

    def count(norm):
        x = _input("contiguous", torch.float32)
        weight, bias = _affine(torch.float32)
        upstream = torch.randn(x.shape)
        with OpCount() as ops:
            (grad,) = torch.autograd.grad(
                (norm(x, weight, bias) * upstream).sum(), x, create_graph=True
            )
            grad.square().sum().backward()
        return ops.kernels

    ours, theirs = count(short_form), count(_group_norm)
    assert ours <= 44 and theirs >= 90, (ours, theirs)


@pytest.mark.parametrize("form", ["auto", "native"])
def test_the_cpu_runs_group_norm_itself_penalty_included(form):
    """On the CPU `auto` is the native form (the CPU is bound by full-size passes, where group
    norm's composite makes fewer): the penalty step is F.group_norm's bit for bit."""
    x = _input("contiguous", torch.float32)
    weight, bias = _affine(torch.float32)
    ours = _penalty_step(partial(layer_norm, form=form), x, weight, bias)
    theirs = _penalty_step(_group_norm, x, weight, bias)
    assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])
    assert all(torch.equal(mine, reference) for mine, reference in zip(ours[2], theirs[2]))


def test_an_unknown_form_is_refused():
    with pytest.raises(ValueError, match="form must be one of auto, short, native"):
        PenaltyLayerNorm(4, form="fast")
    with pytest.raises(ValueError, match="not 'fast'"):
        layer_norm(torch.randn(2, 4, 3, 3), None, None, form="fast")


def test_module_is_a_group_norm_with_its_state_dict():
    norm = PenaltyLayerNorm(6, form="short")
    assert isinstance(norm, nn.GroupNorm) and norm.num_groups == 1
    reference = nn.GroupNorm(1, 6)
    reference.load_state_dict(norm.state_dict())
    norm.load_state_dict(reference.state_dict())
    x = torch.randn(2, 6, 4, 4)
    assert torch.equal(norm(x), reference(x))


def _stacked_penalty_step(norm, x, weight, bias):
    """Stacked models' penalty as training/stacked.py takes it: per model under vmap, the
    input gradient by torch.func.grad (create-graph), then one backward outside vmap."""

    def one(x, weight, bias, upstream):
        def score(y):
            return (norm(y, weight, bias) * upstream).sum()

        grad = torch.func.grad(score)(x)
        return (grad.flatten(1).norm(dim=1) - 1).square().mean() + score(x)

    upstream = torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(5))
    loss = torch.func.vmap(one)(x, weight, bias, upstream)
    leaves = (x, weight, bias)
    return loss.detach(), torch.autograd.grad(loss.sum(), leaves)


def _one_model_at_a_time(x, weight, bias):
    """The same step for each model alone, with F.group_norm and autograd.grad, no vmap."""
    upstream = torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(5))
    losses = []
    for k in range(len(x)):
        x_k = x[k]

        def score(y, k=k):
            return (_group_norm(y, weight[k], bias[k]) * upstream[k]).sum()

        (grad,) = torch.autograd.grad(score(x_k), x_k, create_graph=True)
        losses.append((grad.flatten(1).norm(dim=1) - 1).square().mean() + score(x_k))
    loss = torch.stack(losses)
    return loss.detach(), torch.autograd.grad(loss.sum(), (x, weight, bias))


def _stacked(layout, models=3):
    """G models' inputs (G, 4, 6, 5, 7) in a layer's layout, and their own weights and biases."""
    xs = [_input(layout).detach() * (1 + k) for k in range(models)]
    x = torch.stack(xs).requires_grad_(True)
    weight, bias = _affine()
    weight = torch.stack([weight * (1 + 0.5 * k) for k in range(models)]).requires_grad_(True)
    bias = torch.stack([bias - k for k in range(models)]).requires_grad_(True)
    return x, weight, bias


@pytest.mark.parametrize("layout", LAYOUTS)
def test_stacked_models_under_vmap_get_group_norms_penalty_step(layout):
    """Under vmap (stacked models) the short form's vmap rule runs G models as G groups of one
    group norm: the loss and every gradient equal F.group_norm's one model at a time, in fp64
    (vmap's own group norm cannot take a channels_last input)."""
    x, weight, bias = _stacked(layout)
    ours = _stacked_penalty_step(short_form, x, weight, bias)
    theirs = _one_model_at_a_time(x, weight, bias)
    torch.testing.assert_close(ours[0], theirs[0])
    for mine, reference in zip(ours[1], theirs[1]):
        torch.testing.assert_close(mine, reference)


def test_stacked_models_under_vmap_launch_far_fewer_kernels():
    """The penalty step of 3 stacked models, counted as benchmarks/kernel_count.py counts:
    without the vmap rule, vmap took the per-model weight out of the fused kernels."""

    def count(norm):
        x, weight, bias = _stacked("contiguous")
        with OpCount() as ops:
            _stacked_penalty_step(norm, x, weight, bias)
        return ops.kernels

    ours, theirs = count(short_form), count(_group_norm)
    assert ours < 0.6 * theirs, (ours, theirs)


def test_stacked_bf16_on_the_cpu_runs_the_norm_in_fp32():
    """CPU autocast keeps group norm's bf16 input, but inside vmap the batching rule of its
    backward would mix dtypes: there the short form casts to fp32, as on CUDA."""
    x, weight, bias = _stacked("contiguous")
    x, weight, bias = (t.detach().float().requires_grad_(True) for t in (x, weight, bias))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = torch.func.vmap(short_form)(x.bfloat16(), weight, bias)
        loss, grads = _stacked_penalty_step(short_form, x.bfloat16(), weight, bias)
    assert out.dtype == torch.float32
    assert all(torch.isfinite(g).all() for g in grads[1:])

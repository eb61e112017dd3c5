import collections
import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from gaunet.models.dense import (
    AvgPool2x2,
    DenseBlock,
    Dropout,
    LayerNorm2d,
    layer_norm,
    use_critic_levers,
)
from gaunet.models.layers import (
    BatchRenorm2d,
    ResidualBlock,
    _BatchNormOfModels,
    cat_channels,
    deferred_renorm_updates,
    persistent_buffers,
)
from gaunet.models.penalty_norm import PenaltyLayerNorm, penalty_layer_norm


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


def test_batch_renorm_training_forward_stays_within_its_kernel_budget():
    """A GPU's step at small sizes follows its kernel count (docs/performance.md): one training
    forward of batch renorm alone dispatches 22 kernels (33 before the 2026-12-05 trims, by
    today's counter; 21 before its reading was shared by a generator's layers), counted as
    benchmarks/kernel_count.py counts them."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from stacked_generators import OpCount

    layer = BatchRenorm2d(8, warmup=2, ramp=4).train()
    x = torch.randn(4, 8, 6, 6, requires_grad=True)
    layer(x)
    with OpCount() as ops:
        layer(x)
    assert ops.kernels <= 22


def _renorm_stack(seed=0, count=3):
    torch.manual_seed(seed)
    momenta = (0.1, 0.1, 0.3) * count
    layers = [BatchRenorm2d(3, momentum=m, warmup=1, ramp=3) for m in momenta[:count]]
    for layer in layers:
        with torch.no_grad():
            layer.running_mean.uniform_(-1, 1)
            layer.running_var.uniform_(0.5, 2)
    return layers


@pytest.mark.parametrize("count", [3, 11])
@pytest.mark.parametrize("read_together", [False, True])
@pytest.mark.parametrize("repeat_first", [False, True])
def test_deferred_renorm_updates_equal_layer_by_layer_updates_bit_for_bit(
    repeat_first, read_together, count
):
    """Inside deferred_renorm_updates the layers' statistics are updated together at the end
    (three multi-tensor ops, momenta grouped), with the outputs and every buffer of updating
    each layer at once, over passes that move through the warm-up schedule; a layer run twice
    in one pass (repeat_first) flushes what is pending first. read_together: the module's
    layers read their limits and running std at once (a generator's pass), 11 layers filling
    vector lanes (22 limits, 33 variances) where a lone layer's 2 and 3 values do not."""
    eager, deferred = _renorm_stack(count=count), _renorm_stack(count=count)
    module = nn.ModuleList(deferred) if read_together else None
    x = torch.randn(4, 3, 5, 5) * 2 + 1

    def run(layers):
        h = x
        for layer in layers + (layers[:1] if repeat_first else []):
            h = layer(h) * 1.5 + 0.2
        return h

    for _ in range(5):
        expected = run(eager)
        with deferred_renorm_updates(module):
            got = run(deferred)
            if not repeat_first:  # still pending (a repeat flushes them all)
                assert deferred[1].num_batches_tracked.item() == eager[1].num_batches_tracked - 1
        assert torch.equal(got, expected)
        for mine, theirs in zip(deferred, eager):
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                assert torch.equal(getattr(mine, name), getattr(theirs, name)), name


def test_deferred_renorm_updates_are_dropped_when_the_pass_fails():
    layer = _renorm_stack()[0]
    before = layer.running_mean.clone()
    with pytest.raises(RuntimeError, match="boom"), deferred_renorm_updates():
        layer(torch.randn(4, 3, 5, 5))
        raise RuntimeError("boom")
    assert torch.equal(layer.running_mean, before) and layer.num_batches_tracked.item() == 0


def test_deferred_renorm_updates_launch_six_kernels_for_all_layers():
    """Three layers' updates (unbiased variance: 3, lerps and counters: 3): 6 multi-tensor ops
    per momentum group, where one at a time launches 6 per layer (counted as
    benchmarks/kernel_count.py counts)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from stacked_generators import OpCount

    layers = [BatchRenorm2d(3, warmup=1, ramp=3) for _ in range(3)]
    x = torch.randn(4, 3, 5, 5)
    with OpCount() as one_at_a_time:
        for layer in layers:
            layer(x)
    with OpCount() as together, deferred_renorm_updates():
        for layer in layers:
            layer(x)
    assert one_at_a_time.kernels - together.kernels == 3 * 6 - 6


@pytest.mark.parametrize("schedules", [1, 2])
def test_a_passs_layers_read_their_limits_together(schedules):
    """Inside a generator's pass (deferred_renorm_updates(module)) a layer's training forward
    launches 9 kernels, the reading of every layer's limits and running std 9 per schedule at
    the pass's start, the updates 6 per momentum at its end: eight layers cost 36 more than
    four, where alone each costs 22."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from stacked_generators import OpCount

    def pass_kernels(count: int) -> int:
        layers = nn.ModuleList(
            BatchRenorm2d(3, warmup=1 + k % schedules, ramp=3) for k in range(count)
        )
        x = torch.randn(4, 3, 5, 5)
        with OpCount() as ops, deferred_renorm_updates(layers):
            for layer in layers:
                layer(x)
        return ops.kernels

    four, eight = pass_kernels(4), pass_kernels(8)
    assert eight - four == 4 * 9
    assert four == 4 * 9 + 9 * schedules + 6


def test_batch_norm_of_models_has_batch_norms_gradients():
    """The Function stacked models' batch renorm runs (one model's view of it) against
    F.batch_norm, and its own backward by gradcheck, in fp64."""
    torch.manual_seed(4)
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.rand(3, dtype=torch.float64, requires_grad=True) + 0.5
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    y, mean, inverse_std = _BatchNormOfModels.apply(x, weight, bias, 1e-5)
    torch.testing.assert_close(y, F.batch_norm(x, None, None, weight, bias, True, 0.0, 1e-5))
    torch.testing.assert_close(mean, x.mean((0, 2, 3)))
    torch.testing.assert_close(inverse_std, (x.var((0, 2, 3), unbiased=False) + 1e-5).rsqrt())
    assert torch.autograd.gradcheck(
        lambda *t: _BatchNormOfModels.apply(*t, 1e-5)[0], (x, weight, bias)
    )


@pytest.mark.parametrize("weighted", [True, False])
def test_batch_norm_of_models_under_vmap_is_each_models_batch_norm(weighted):
    """Under vmap, G models' channels side by side in one kernel: outputs, statistics and
    gradients as each model's own batch norm."""
    torch.manual_seed(5)
    x = torch.randn(3, 4, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    weight = (torch.rand(3, 2, dtype=torch.float64) + 0.5).requires_grad_(weighted)
    bias = torch.randn(3, 2, dtype=torch.float64).requires_grad_(weighted)

    def one(x, weight=None, bias=None):
        return _BatchNormOfModels.apply(x, weight, bias, 1e-5)

    args = (x, weight, bias) if weighted else (x,)
    y, mean, inverse_std = torch.func.vmap(one)(*args)
    for k in range(3):
        w, b = (weight[k], bias[k]) if weighted else (None, None)
        ref = F.batch_norm(x[k], None, None, w, b, True, 0.0, 1e-5)
        torch.testing.assert_close(y[k], ref)
        torch.testing.assert_close(mean[k], x[k].mean((0, 2, 3)))
        torch.testing.assert_close(inverse_std[k], (x[k].var((0, 2, 3), False) + 1e-5).rsqrt())
    upstream = torch.randn(y.shape, dtype=y.dtype)
    leaves = (x, weight, bias) if weighted else (x,)
    ours = torch.autograd.grad((y * upstream).sum(), leaves)
    singles = [
        F.batch_norm(x[k], None, None, *((weight[k], bias[k]) if weighted else (None, None)),
                     True, 0.0, 1e-5)
        for k in range(3)
    ]  # fmt: skip
    theirs = torch.autograd.grad((torch.stack(singles) * upstream).sum(), leaves)
    for mine, reference in zip(ours, theirs):
        torch.testing.assert_close(mine, reference)


@pytest.mark.parametrize("deferred", [False, True])
def test_batch_renorm_under_vmap_updates_each_models_statistics(deferred):
    """Stacked models' batch renorm (vmap over stacked buffers), alone and inside a generator's
    pass (deferred_renorm_updates: its two layers read together, updated at its end):
    outputs, running statistics and counters as each model's own layers, after the warm-up so
    that r and d are clipped."""
    torch.manual_seed(6)

    class Pass(nn.Module):  # as UNetGenerator.forward: the updates applied inside the call
        def __init__(self) -> None:
            super().__init__()
            self.first = BatchRenorm2d(3, momentum=0.1, warmup=1, ramp=2)
            self.second = BatchRenorm2d(3, momentum=0.1, warmup=1, ramp=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with deferred_renorm_updates(self) if deferred else contextlib.nullcontext():
                return self.second(self.first(x) * 2.0 + 0.5)

    passes = [Pass() for _ in range(2)]
    for k, single in enumerate(passes):
        for j, layer in enumerate((single.first, single.second)):
            layer.running_mean.fill_(0.2 * k - 0.3 * j)
            layer.running_var.fill_(1.0 + k + 0.5 * j)
            layer.num_batches_tracked.fill_(2 + j)
    x = torch.randn(2, 4, 3, 5, 5) * 3
    params, buffers = torch.func.stack_module_state(passes)
    base = Pass()

    def one(p, b, x):
        return torch.func.functional_call(base, (p, b), (x,))

    out = torch.func.vmap(one)(params, buffers, x)
    for k, single in enumerate(passes):
        torch.testing.assert_close(out[k], single(x[k]))
        for name, value in single.named_buffers():
            torch.testing.assert_close(buffers[name][k], value, msg=name)
    assert int(buffers["first.num_batches_tracked"][0]) == 3
    assert int(buffers["second.num_batches_tracked"][0]) == 4


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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batch_renorm_schedule_constants_stay_out_of_the_state_dict(dtype):
    """The schedule's constants are buffers (on the device, for the forward's few kernels) but
    not state: checkpoints hold what they held before, load strictly either way, and EMA and
    the processes' buffer averaging see the statistics only."""
    layer = BatchRenorm2d(4, warmup=10, ramp=20, rmax=3.0, dmax=5.0).to(dtype)
    state = layer.state_dict()
    assert set(state) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    fresh = BatchRenorm2d(4, warmup=10, ramp=20, rmax=3.0, dmax=5.0).to(dtype)
    fresh.load_state_dict(state)  # strict
    kept = persistent_buffers(nn.Sequential(nn.Conv2d(4, 4, 1), layer))
    assert [b.data_ptr() for b in kept] == [
        layer.running_mean.data_ptr(),
        layer.running_var.data_ptr(),
        layer.num_batches_tracked.data_ptr(),
    ]
    layer.num_batches_tracked.fill_(20)  # half way through the ramp, in either dtype
    assert layer.limits() == pytest.approx((2.0, 2.5))
    reading = layer.reading()
    assert reading.r_high.dtype == reading.inverse_running_std.dtype == dtype
    assert (reading.r_low.item(), reading.d_low.item()) == pytest.approx((0.5, -2.5))


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

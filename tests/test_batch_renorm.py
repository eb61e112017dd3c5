"""gaunet.models.batch_renorm: batch renormalization against batch norm and its written-out
formula, the schedule, the generator's pass (read together, updated together, bit for bit as
layer by layer), its kernel budgets, and stacked models under vmap."""

import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gaunet.models.batch_renorm import (
    BatchRenorm2d,
    _BatchNormOfModels,
    deferred_renorm_updates,
)
from gaunet.models.layers import persistent_buffers


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

"""Issue 17: one full training iteration (n_critic critic steps with the penalty, one generator
step, the EMA update) makes no host sync and no data-dependent shape, so it can be captured in a
CUDA graph. On CPU, every way of reading a tensor's value on the host is made an error while the
step runs: the Python-level conversions (.item, .tolist, .cpu, .numpy, bool/float/int/index) and,
below them, the aten ops that read values or make data-dependent shapes (_local_scalar_dense,
nonzero, masked_select, unique, boolean indexing, ...). On a GPU, torch.cuda.set_sync_debug_mode
("error") does the same for real."""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from train_helpers import PHANTOM, TINY

from gaunet.config import load_config
from gaunet.data import load_source
from gaunet.data.pairs import PairSampler
from gaunet.models.dense import LayerNorm2d, use_critic_levers
from gaunet.training.loop import Trainer


class HostSync(AssertionError):
    """A host sync (or data-dependent shape) inside the training step."""


_aten = torch.ops.aten
# ops whose result needs the tensor's values on the host: a GPU stream stall, and a shape that
# a CUDA graph cannot capture
DATA_DEPENDENT = {
    _aten._local_scalar_dense.default,  # .item(), float(), int(), bool(), .tolist()
    _aten.is_nonzero.default,
    _aten.equal.default,
    _aten.allclose.default,
    _aten.nonzero.default,
    _aten.nonzero_static.default,
    _aten.argwhere.default,
    _aten.masked_select.default,
    _aten._unique2.default,
    _aten.unique_consecutive.default,
    _aten.unique_dim.default,
    _aten.repeat_interleave.Tensor,
    _aten.masked_scatter.default,
}
PYTHON_CONVERSIONS = (
    "item",
    "tolist",
    "cpu",
    "numpy",
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
    "__complex__",
)


class _Guard:
    """`paused` > 0 while host-side code that is allowed to read values runs (the pair sampler)."""

    paused = 0


class _NoHostSync(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _Guard.paused:
            return func(*args, **kwargs)
        if func in DATA_DEPENDENT:
            raise HostSync(f"host sync / data-dependent shape in the step: {func}")
        if func in (_aten.index.Tensor, _aten.index_put.default, _aten.index_put_.default):
            indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
            if any(i is not None and i.dtype in (torch.bool, torch.uint8) for i in indices):
                raise HostSync(f"boolean-mask indexing in the step (nonzero inside): {func}")
        return func(*args, **kwargs)


@contextlib.contextmanager
def no_host_sync(monkeypatch: pytest.MonkeyPatch):
    """Host syncs are errors inside: on CPU by the checks above, on CUDA by torch itself.

    One exception, by design: `PairSampler.sample` draws the iteration's index pairs on the
    host (a CPU torch.Generator seeds numpy), and the loop sends them to the device in one
    copy. That is host work on host tensors, no device sync; in a CUDA graph it is the input
    written before each replay. It runs with the guard paused."""
    with monkeypatch.context() as patch:
        for name in PYTHON_CONVERSIONS:
            original = getattr(torch.Tensor, name)

            def refuse(self, *args, _name=name, _original=original, **kwargs):
                if _Guard.paused:
                    return _original(self, *args, **kwargs)
                raise HostSync(f"Tensor.{_name}() in the step")

            patch.setattr(torch.Tensor, name, refuse)
        sample = PairSampler.sample

        def host_side_sample(self, *args, **kwargs):
            _Guard.paused += 1
            try:
                return sample(self, *args, **kwargs)
            finally:
                _Guard.paused -= 1

        patch.setattr(PairSampler, "sample", host_side_sample)
        previous = torch.cuda.get_sync_debug_mode() if torch.cuda.is_available() else None
        if previous is not None:
            torch.cuda.set_sync_debug_mode("error")
        try:
            with _NoHostSync():
                yield
        finally:
            if previous is not None:
                torch.cuda.set_sync_debug_mode(previous)


def _trainer(**settings) -> Trainer:
    cfg = load_config("cpu-tiny", {**TINY, "device": "auto", **settings})
    data = load_source(PHANTOM, size=cfg.size, channels=cfg.channels)
    return Trainer(None, cfg, data, show_progress=False)


def test_the_guard_catches_every_kind_of_host_sync(monkeypatch):
    x = torch.randn(4, 3)
    attempts = [
        lambda: x.sum().item(),
        lambda: float(x.sum()),
        lambda: int(x[0, 0]),
        lambda: bool(x.sum() > 0),
        lambda: x.tolist(),
        lambda: x.cpu(),
        lambda: x.numpy(),
        lambda: x.nonzero(),
        lambda: x[x > 0],
        lambda: torch.unique(x),
        lambda: torch.masked_select(x, x > 0),
        lambda: range(10)[torch.tensor(1)],
    ]
    with no_host_sync(monkeypatch):
        for attempt in attempts:
            with pytest.raises(HostSync):
                attempt()
        assert (x * 2 + 1).abs().max(0).values.shape == (3,)  # device-side work is allowed
    assert float(x.sum()) == pytest.approx(x.sum().item())  # and the patches are undone


# paper settings (fp32, penalty at every critic step on the whole batch), the CPU presets'
# optimised path (bf16 + lazy penalty), the opt-in levers, and the issue-17 layer levers
SETTINGS = {
    "paper": {"precision": "fp32", "gp_every": 1, "gp_fraction": 1.0},
    "bf16+gp_every=4": {"precision": "bf16", "gp_every": 4},
    "gp_fraction=0.5+channels_last": {"gp_fraction": 0.5, "channels_last": True},
    "diversity+diffaugment": {
        "diversity_lambda": 1.0,
        "diffaugment": "translation,cutout,color",
        "skip_dropout": 0.2,
    },
}


@pytest.mark.parametrize("name", [*SETTINGS, "bf16_norm+dense_buffer"])
def test_training_iteration_makes_no_host_sync(monkeypatch, name):
    """gp_every + 1 iterations, so every penalty pattern of the lazy schedule runs guarded; the
    batch renorm's warm-up schedule is past its start, so its clip limits are in play."""
    settings = SETTINGS.get(name, {"precision": "bf16"})
    trainer = _trainer(brn_warmup=1, brn_ramp=4, **settings)
    if name == "bf16_norm+dense_buffer":
        use_critic_levers(trainer.critic, keep_dtype_norm=True, feature_buffer=True)
        for norm in trainer.critic.modules():
            if isinstance(norm, LayerNorm2d):
                norm.kernel = "batch_norm"  # the form CUDA runs (the CPU one is GroupNorm's)
    totals: dict[str, torch.Tensor] = {}
    trainer.train_step(totals)  # first step outside: lazy allocations, thread pools
    with no_host_sync(monkeypatch):
        for _ in range(trainer.cfg.gp_every + 1):
            trainer.train_step(totals)
    assert trainer.step == trainer.cfg.gp_every + 2
    assert {"loss_d", "loss_g", "wasserstein", "gradient_penalty"} <= set(totals)
    assert all(torch.isfinite(v).all() for v in totals.values())


def test_a_sync_inside_the_step_is_caught(monkeypatch):
    """The guard reaches into the step: a penalty that reads its value on the host fails."""
    import gaunet.training.loss_gaunet as model

    penalty = model.gradient_penalty

    def syncing_penalty(*args, **kwargs):
        value = penalty(*args, **kwargs)
        if value > 100:  # a data-dependent branch: bool() of a device tensor
            value = value * 0
        return value

    monkeypatch.setattr(model, "gradient_penalty", syncing_penalty)
    trainer = _trainer(**SETTINGS["paper"])
    with no_host_sync(monkeypatch), pytest.raises(HostSync, match="__bool__"):
        trainer.train_step({})

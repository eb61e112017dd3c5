"""Guards for what a CUDA-graph capture bakes in, checked on the CPU (no GPU in CI).

A captured iteration freezes every Python-side decision made while it was recorded: which
critic steps run the lazy penalty, and that nothing in the step reads a tensor on the host.
These tests pin down what is correct today so that a change that would only break on a GPU
fails here first:

- the lazy penalty's pattern over an iteration's critic steps repeats exactly every
  `penalty_phases(cfg)` iterations, for many (gp_every, n_critic) pairs, not only the few
  the emulated-graph tests train; and every phase runs eagerly (warm-up) before capture;
- the `cgan` baseline, which `graphs_decision` graphs by default on CUDA, makes no host sync
  in its iteration (the existing guard covers the gaunet family only).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from test_graph_safe_step import _trainer, no_host_sync

from gaunet.training.graphs import IterationGraphs, graphs_decision, penalty_phases
from gaunet.training.loss import LazyPenalty


def _pattern(penalty: LazyPenalty, step: int, n_critic: int) -> tuple[bool, ...]:
    """Which critic steps of iteration `step` run the penalty (as GraphedIterations.eager_step
    decides it)."""
    return tuple(penalty.due(step * n_critic + t) for t in range(n_critic))


@pytest.mark.parametrize("n_critic", range(1, 9))
@pytest.mark.parametrize("gp_every", range(1, 13))
def test_one_graph_per_phase_replays_the_lazy_penalty_schedule_exactly(gp_every, n_critic):
    cfg = SimpleNamespace(gp_every=gp_every, n_critic=n_critic)
    period = penalty_phases(cfg)
    penalty = LazyPenalty(1.0, gp_every)
    assert period >= 1
    # a graph captured at step s is replayed at s + k * period: its baked pattern must match
    for start in range(3 * period + 2):
        captured = _pattern(penalty, start, n_critic)
        for k in range(1, 4):
            assert _pattern(penalty, start + k * period, n_critic) == captured
    # and the penalty runs as often as in an eager run: once every gp_every critic steps
    ran = sum(sum(_pattern(penalty, s, n_critic)) for s in range(period))
    assert ran * gp_every == period * n_critic


@pytest.mark.parametrize(("gp_every", "n_critic"), [(4, 1), (3, 2)])
def test_every_phase_runs_eagerly_before_it_is_captured(gp_every, n_critic):
    """Warm-up (cuDNN autotuning, Adam state, autograd buffers) must cover each phase's own
    shapes, e.g. the penalty's rows: a phase first met inside a capture would autotune or
    allocate there."""
    trainer = _trainer(precision="fp32", gp_every=gp_every, n_critic=n_critic)
    graphs = IterationGraphs(trainer, warmup=2, emulate=True)
    assert graphs.period == penalty_phases(trainer.cfg)
    assert graphs.warmup >= graphs.period
    # capture needs Adam's step count on the parameters' device: set before the warm-up
    assert all(g["capturable"] for opt in (trainer.opt_g, trainer.opt_d) for g in opt.param_groups)


def test_cgan_is_graphed_on_cuda_and_its_iteration_makes_no_host_sync(monkeypatch):
    trainer = _trainer(model="cgan", precision="fp32")
    use, _ = graphs_decision(trainer.cfg, torch.device("cuda"), 1)
    assert use  # so its step must be capturable
    totals: dict[str, torch.Tensor] = {}
    trainer.train_step(totals)  # lazy allocations outside the guard
    with no_host_sync(monkeypatch):
        for _ in range(2):
            trainer.train_step(totals)
    assert {"loss_d", "loss_g"} <= set(totals)
    assert all(torch.isfinite(v).all() for v in totals.values())

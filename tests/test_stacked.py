"""Stacked models (gaunet/training/stacked.py): G GAU-Nets stepped at once under vmap compute
what G single models compute, each on its own data, and come apart into ordinary modules."""

from __future__ import annotations

import pytest
import torch

from gaunet.config import load_config
from gaunet.models.penalty_norm import PenaltyLayerNorm
from gaunet.training.loss import Batch, build_family
from gaunet.training.stacked import StackedStep, capture_iterations, stack_batches

SIZE, BATCH = 16, 4
TINY = {
    "size": SIZE,
    "channels": 1,
    "precision": "fp32",
    "g_width": 4,
    "g_width_max": 8,
    "g_depth": 2,
    "g_convs_per_block": 1,
    "d_growth": 4,
    "d_blocks": 2,
    "d_layers_per_block": 2,
    "d_stem": 4,
    "z_dim": 8,
    "noise_channels": 2,
    "class_embed_dim": 2,
    "n_critic": 2,
}


def family(**overrides):
    return build_family(load_config("cpu-tiny", {**TINY, **overrides}), 2)


def networks(fam, count: int):
    pairs = []
    for k in range(count):
        torch.manual_seed(100 + k)
        pairs.append(fam.build())
    return [g for g, _ in pairs], [c for _, c in pairs]


def batches(count: int, seed: int = 0) -> list[Batch]:
    rng = torch.Generator().manual_seed(seed)
    return [
        Batch(
            torch.rand(BATCH, 1, SIZE, SIZE, generator=rng) * 2 - 1,
            torch.rand(BATCH, 1, SIZE, SIZE, generator=rng) * 2 - 1,
            torch.randint(0, 2, (BATCH,), generator=rng),
        )
        for _ in range(count)
    ]


def single_critic_grads(fam, generator, critic, batch, with_penalty: bool):
    """Loss and critic gradients of one model, as the eager trainer computes them."""
    generator.train(), critic.train()
    critic.zero_grad(set_to_none=True)
    loss, _ = fam.critic_loss(generator, critic, batch, with_penalty)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in critic.named_parameters()}


def use_norm_form(critics, form: str) -> None:
    for critic in critics:
        for layer in critic.modules():
            if isinstance(layer, PenaltyLayerNorm):
                layer.form = form


@pytest.mark.parametrize("form", ["auto", "short"])
@pytest.mark.parametrize("with_penalty", [True, False])
def test_stacked_critic_step_equals_single_models(with_penalty, form):
    """`short` is the critic's layer norm as CUDA runs it (its vmap rule), against the single
    models' F.group_norm (the CPU's `auto`)."""
    fam = family(d_dropout=0.0, g_dropout=0.0)
    gens, crits = networks(fam, 2)
    data = batches(2)
    expected = []
    for k in range(2):  # each single model from the same RNG state as the stacked step
        torch.manual_seed(7)
        expected.append(single_critic_grads(fam, gens[k], crits[k], data[k], with_penalty))
    gens, crits = networks(fam, 2)  # fresh copies: the single steps updated BRN statistics
    use_norm_form(crits, form)
    stacked = StackedStep(fam, gens, crits, randomness="same")
    torch.manual_seed(7)
    gen, critic = stacked.generator, stacked.critic

    def one(gp, gb, cp, cb, x_i, x_j, labels):
        return fam.critic_loss(
            gen.bind(gp, gb), critic.bind(cp, cb), Batch(x_i, x_j, labels), with_penalty
        )

    batch = stack_batches(data)
    loss, _ = torch.func.vmap(one, randomness="same")(
        gen.params, gen.buffers, critic.params, critic.buffers, batch.x_i, batch.x_j, batch.labels
    )
    loss.sum().backward()
    for k, (single_loss, single_grads) in enumerate(expected):
        torch.testing.assert_close(loss[k].detach(), single_loss, rtol=1e-4, atol=1e-5)
        for name, grad in single_grads.items():
            torch.testing.assert_close(
                critic.params[name].grad[k], grad, rtol=1e-3, atol=1e-5, msg=name
            )


def single_generator_steps(fam, gens, crits, data):
    """Each single model's generator loss, gradients and state after the pass (its batch-renorm
    statistics), from the same RNG state as the stacked step."""
    expected = []
    for k in range(len(gens)):
        torch.manual_seed(3)
        gens[k].zero_grad(set_to_none=True)
        loss, _ = fam.generator_loss(gens[k], crits[k], data[k])
        loss.backward()
        grads = {n: p.grad.clone() for n, p in gens[k].named_parameters()}
        expected.append((loss.detach(), grads, gens[k].state_dict()))
    return expected


def test_stacked_generator_step_equals_single_models():
    """The loss, every gradient, and every batch-renorm running statistic and pass counter as
    the single models' (the generator's batch norms run all models as one kernel under vmap,
    and its statistics are updated on the stacked buffers at the end of the pass)."""
    fam = family(d_dropout=0.0, g_dropout=0.0)
    gens, crits = networks(fam, 2)
    data = batches(2, seed=1)
    expected = []
    for k in range(2):
        torch.manual_seed(3)
        gens[k].zero_grad(set_to_none=True)
        loss, _ = fam.generator_loss(gens[k], crits[k], data[k])
        loss.backward()
        grads = {n: p.grad.clone() for n, p in gens[k].named_parameters()}
        expected.append((loss.detach(), grads, dict(gens[k].named_buffers())))
    gens, crits = networks(fam, 2)
    stacked = StackedStep(fam, gens, crits, randomness="same")
    torch.manual_seed(3)
    stats = stacked.generator_step(stack_batches(data))
    for k, (single_loss, single_grads, single_buffers) in enumerate(expected):
        torch.testing.assert_close(stats["loss_g"][k], single_loss, rtol=1e-4, atol=1e-5)
        for name, grad in single_grads.items():  # the step leaves its gradients in .grad
            torch.testing.assert_close(
                stacked.generator.params[name].grad[k], grad, rtol=1e-3, atol=1e-5, msg=name
            )
        counters = [n for n in single_buffers if n.endswith("num_batches_tracked")]
        assert counters and all(int(single_buffers[n]) >= 1 for n in counters)
        for name, value in single_buffers.items():
            torch.testing.assert_close(
                stacked.generator.buffers[name][k], value, rtol=1e-5, atol=1e-6, msg=name
            )
    # the step's Adam update moved each model's weights; the critic got no gradient
    assert all(p.grad is None for p in stacked.critic.params.values())


def test_models_stay_independent_and_come_apart():
    """Training G=3 models: each keeps its own weights and statistics, the per-model state
    loads into a fresh generator, and a model's update does not depend on another's data."""
    fam = family()
    gens, crits = networks(fam, 3)
    stacked = StackedStep(fam, gens, crits)
    data = batches(3 * (fam.config.n_critic + 1))
    per_step = [stack_batches(data[3 * t : 3 * t + 3]) for t in range(fam.config.n_critic + 1)]
    for step in range(2):
        stats = stacked.iteration(per_step, step)
    assert stats["loss_g"].shape == (3,) and torch.isfinite(stats["loss_g"]).all()
    fresh, _ = networks(fam, 1)
    for k in range(3):
        fresh[0].load_state_dict(stacked.generator.state_dict(k))  # strict: every key
        fresh[0].eval()
        with torch.no_grad():
            out = fresh[0](data[0].x_i, fam.noise(BATCH, torch.device("cpu")), data[0].labels)
        assert out.shape == (BATCH, 1, SIZE, SIZE) and out.abs().max() <= 1
    first = stacked.generator.state_dict(0)
    second = stacked.generator.state_dict(1)
    assert any(not torch.equal(first[n], second[n]) for n in first)
    running = [n for n in first if n.endswith("running_mean")]
    assert running and not torch.equal(first[running[0]], second[running[0]])


def test_stacked_models_draw_their_own_noise():
    """randomness="different": two identical models on identical data still get different
    noise and dropout, so their losses differ."""
    fam = family()
    gens, crits = networks(fam, 1)
    stacked = StackedStep(fam, gens * 2, crits * 2)
    one = batches(1)[0]
    stats = stacked.critic_step(stack_batches([one, one]), with_penalty=True)
    assert stats["loss_d"][0] != stats["loss_d"][1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_stacked_iteration_is_captured_and_replayed_as_a_graph():
    """On CUDA the stacked iteration (vmap, torch.func.grad penalty, capturable fused Adam)
    captures as one CUDA graph whose replays train: the weights move and stay finite."""
    device = torch.device("cuda")
    fam = family(gp_every=1)
    gens, crits = networks(fam, 3)
    stacked = StackedStep(fam, [g.to(device) for g in gens], [c.to(device) for c in crits])
    data = [
        stack_batches(
            [Batch(b.x_i.to(device), b.x_j.to(device), b.labels.to(device)) for b in part]
        )
        for part in (batches(3, seed=s) for s in range(fam.config.n_critic + 1))
    ]
    (graph,) = capture_iterations(stacked, data, phases=1, warmup=2)
    before = {n: p.detach().clone() for n, p in stacked.generator.params.items()}
    for _ in range(3):
        graph.replay()
    torch.cuda.synchronize()
    moved = [not torch.equal(before[n], p.detach()) for n, p in stacked.generator.params.items()]
    assert any(moved)  # the replays trained
    assert all(torch.isfinite(p).all() for p in stacked.generator.params.values())
    stats = stacked.iteration(data, 5)  # and the eager step still runs after them
    assert torch.isfinite(stats["loss_g"]).all() and stats["loss_g"].shape == (3,)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_runs_trained_together_replay_graphs(tmp_path):
    """train_together on CUDA: the stack warms up, is captured through graphs.py (one graph per
    penalty phase, fresh pairs at every replay) and trains; each run.json says so."""
    import json

    from train_helpers import PHANTOM
    from train_helpers import TINY as LOOP_TINY

    from gaunet.training import train_together

    overrides = {**LOOP_TINY, "device": "cuda", "precision": "fp32", "gp_every": 4}
    outs = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    train_together([PHANTOM] * 3, outs, overrides=overrides, steps=16, progress=False)
    for k, out in enumerate(outs):
        info = json.loads((out / "run.json").read_text())
        assert info["steps"] == 16 and info["stacked"]["index"] == k
        assert info["cuda_graphs"] is True and info["warmup_seconds"] is not None
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert records[-1]["step"] == 16
        assert all(abs(r["loss_d"]) < 1e6 for r in records)  # finite, logged per model

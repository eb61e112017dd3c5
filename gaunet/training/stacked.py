"""Several independent GAU-Nets trained as one: the step of G models whose parameters are
stacked on a leading axis and run through torch.func.vmap.

Why: at small sizes an iteration is thousands of small kernels, and a GPU (even replaying a CUDA
graph) is bound by their number, not by arithmetic (issue 29: cpu-tiny at 28 px, 27 steps/s on
an H200 at batch 16 and 20 at batch 128). Under vmap one kernel serves all G models: a
convolution becomes one grouped convolution, a layer norm one call. The G models stay
independent: each has its own parameters, Adam moments (Adam is element-wise, so one optimizer
over stacked tensors is G optimizers), batch-renorm statistics, data and noise. The losses are
the family's own (loss_gaunet.py), run per model by vmap, so nothing is reimplemented here.

This is the step only, measured by benchmarks/stacked_generators.py (docs/performance.md,
"Stacked generators"); the training loop around it (budgets, checkpoints, one run folder per
model) is not built yet.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from gaunet.training.graphs import set_capturable
from gaunet.training.loss import Batch, ModelFamily


class StackedModels:
    """G modules of one architecture as stacked parameter and buffer tensors (leading axis G)
    and a parameter-free copy of the module to run them with."""

    def __init__(self, modules: list[nn.Module]) -> None:
        if not modules:
            raise ValueError("StackedModels needs at least one module")
        params, buffers = stack_module_state(modules)
        self.params = {name: p.detach().requires_grad_(True) for name, p in params.items()}
        self.buffers = buffers
        self.base = copy.deepcopy(modules[0]).to("meta")
        self.count = len(modules)

    def bind(self, params: dict, buffers: dict) -> Callable[..., torch.Tensor]:
        """The module as a function of its inputs, for one model's (vmapped) tensors."""

        def forward(*args: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (params, buffers), args)

        return forward

    def state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Model k's weights and buffers, as its own module's state_dict has them."""
        state = {name: p.detach()[k].clone() for name, p in self.params.items()}
        state |= {name: b[k].clone() for name, b in self.buffers.items()}
        return state


def stack_batches(batches: list[Batch]) -> Batch:
    """One batch per model -> one batch with a leading model axis."""
    return Batch(
        torch.stack([b.x_i for b in batches]),
        torch.stack([b.x_j for b in batches]),
        torch.stack([b.labels for b in batches]),
    )


class StackedStep:
    """n_critic critic steps and one generator step of G models at once (Algorithm 1 per model).

    `generators[k]` and `critics[k]` are model k's networks as a single run would build them;
    the losses returned are per model (shape (G,)), summed for the backward pass, which keeps
    each model's gradient its own. `randomness` is vmap's: "different" gives every model its own
    noise, dropout and penalty draws; "same" one draw for all (the tests compare with single
    models through it).
    """

    def __init__(
        self,
        family: ModelFamily,
        generators: list[nn.Module],
        critics: list[nn.Module],
        bf16: bool = False,
        randomness: str = "different",
    ) -> None:
        cfg = family.config
        self.family, self.bf16, self.randomness = family, bf16, randomness
        self.generator = StackedModels([g.train() for g in generators])
        self.critic = StackedModels([c.train() for c in critics])
        betas = (float(cfg.beta1), float(cfg.beta2))
        device = next(iter(self.generator.params.values())).device
        fused = device.type in ("cpu", "cuda")
        self.opt_g = torch.optim.Adam(
            self.generator.params.values(), lr=cfg.lr_g, betas=betas, fused=fused
        )
        self.opt_d = torch.optim.Adam(
            self.critic.params.values(), lr=cfg.lr_d, betas=betas, fused=fused
        )
        self.device = device
        self.critic_steps = 0

    def _autocast(self):
        if not self.bf16:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def critic_step(self, batch: Batch, with_penalty: bool) -> dict[str, torch.Tensor]:
        gen, critic = self.generator, self.critic

        def one(gp, gb, cp, cb, x_i, x_j, labels):
            return self.family.critic_loss(
                gen.bind(gp, gb), critic.bind(cp, cb), Batch(x_i, x_j, labels), with_penalty
            )

        with self._autocast():
            loss, stats = vmap(one, randomness=self.randomness)(
                gen.params, gen.buffers, critic.params, critic.buffers, *_fields(batch)
            )
        self.opt_d.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt_d.step()
        return stats

    def generator_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        gen, critic = self.generator, self.critic
        frozen = {name: p.detach() for name, p in critic.params.items()}

        def one(gp, gb, cp, cb, x_i, x_j, labels):
            return self.family.generator_loss(
                gen.bind(gp, gb), critic.bind(cp, cb), Batch(x_i, x_j, labels)
            )

        with self._autocast():
            loss, stats = vmap(one, randomness=self.randomness)(
                gen.params, gen.buffers, frozen, critic.buffers, *_fields(batch)
            )
        self.opt_g.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt_g.step()
        return stats

    def iteration(self, batches: list[Batch]) -> dict[str, torch.Tensor]:
        """One iteration on n_critic + 1 stacked batches; per-model stats of the last steps."""
        *critic_batches, generator_batch = batches
        stats: dict[str, torch.Tensor] = {}
        for batch in critic_batches:
            stats |= self.critic_step(batch, self.family.penalty.due(self.critic_steps))
            self.critic_steps += 1
        return stats | self.generator_step(generator_batch)


def capture_iterations(
    step: StackedStep, batches: list[Batch], phases: int, warmup: int = 3
) -> list[torch.cuda.CUDAGraph]:
    """The stacked iteration on `batches` as CUDA graphs, one per lazy-penalty phase (as
    graphs.py does for one model), after `warmup` eager iterations on a side stream. For
    measurement on fixed batches: the product's loop does not use it yet."""
    set_capturable([step.opt_g, step.opt_d], True)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            step.iteration(batches)
    torch.cuda.current_stream().wait_stream(side)
    graphs, pool = [], None
    for _ in range(phases):
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=pool):
            step.iteration(batches)
        pool = graph.pool()
        graphs.append(graph)
    return graphs


def _fields(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return batch.x_i, batch.x_j, batch.labels

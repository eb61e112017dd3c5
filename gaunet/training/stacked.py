"""Several independent GAU-Nets trained as one: the step of G models whose parameters are
stacked on a leading axis and run through torch.func.vmap.

Why: at small sizes an iteration is thousands of small kernels, and a GPU (even replaying a CUDA
graph) is bound by their number, not by arithmetic (issue 29: cpu-tiny at 28 px, 27 steps/s on
an H200 at batch 16 and 20 at batch 128). Under vmap one kernel serves all G models: a
convolution becomes one grouped convolution, a layer norm one call. The G models stay
independent: each has its own parameters, Adam moments (Adam is element-wise, so one optimizer
over stacked tensors is G optimizers), batch-renorm statistics, data and noise. The losses are
the family's own (loss_gaunet.py), run per model by vmap, so nothing is reimplemented here.

`StackedStep` is the step of the stacked models (benchmarks/stacked_generators.py times it;
docs/performance.md, "Several generators stepped as one"). `StackedStepper` puts it where a `Stepper` stands:
G members (ordinary Trainers, one run folder each) lend it their networks, optimizer state, EMA
and pair batches, it trains them together (eagerly, or as CUDA graphs through the same
IterationGraphs as one model), and `write_back()` gives each member its own state again, so the
members' checkpoints, sample grids and run.json are a single run's (stacked_loop.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from gaunet.errors import GaunetError
from gaunet.training.batches import DeviceBatches, to_device
from gaunet.training.ema import EMA
from gaunet.training.graphs import (
    GraphedIterations,
    IterationGraphs,
    graphs_decision,
    set_capturable,
)
from gaunet.training.loss import Batch, ModelFamily

if TYPE_CHECKING:
    from gaunet.training.step import Stepper


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
        self.keys = set(modules[0].state_dict())

    def bind(self, params: dict, buffers: dict) -> Callable[..., torch.Tensor]:
        """The module as a function of its inputs, for one model's (vmapped) tensors."""

        def forward(*args: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (params, buffers), args)

        return forward

    def state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Model k's weights and buffers, as its own module's state_dict has them."""
        return model_state(self.params, self.buffers, self.keys, k)


def model_state(params: dict, buffers: dict, keys: set[str], k: int) -> dict[str, torch.Tensor]:
    """Model k's state dict from stacked tensors: the keys its own module's state_dict has
    (buffers registered with persistent=False, such as batch renorm's constants, left out)."""
    state = {name: p.detach()[k].clone() for name, p in params.items()}
    return state | {name: b[k].clone() for name, b in buffers.items() if name in keys}


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

    def iteration(self, batches: list[Batch], step: int) -> dict[str, torch.Tensor]:
        """Iteration `step` (it sets the lazy penalty's schedule, as in step.py) on n_critic + 1
        stacked batches; per-model stats of its last steps."""
        *critic_batches, generator_batch = batches
        n_critic = len(critic_batches)
        stats: dict[str, torch.Tensor] = {}
        for t, batch in enumerate(critic_batches):
            stats |= self.critic_step(batch, self.family.penalty.due(step * n_critic + t))
        return stats | self.generator_step(generator_batch)


def capture_iterations(
    step: StackedStep, batches: list[Batch], phases: int, warmup: int = 3
) -> list[torch.cuda.CUDAGraph]:
    """The stacked iteration on fixed `batches` as CUDA graphs, graph p for the iterations
    whose step is p modulo `phases` (the lazy penalty's cycle), after `warmup` eager iterations
    on a side stream: what benchmarks/stacked_generators.py times. Training captures through
    StackedStepper and graphs.py instead, with fresh batches at every replay."""
    set_capturable([step.opt_g, step.opt_d], True)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for t in range(max(warmup, phases)):
            step.iteration(batches, t)
    torch.cuda.current_stream().wait_stream(side)
    graphs, pool = [], None
    for phase in range(phases):
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=pool):
            step.iteration(batches, phase)
        pool = graph.pool()
        graphs.append(graph)
    return graphs


class StackedBatches:
    """Each member's own pair batches (its rows, its sampler), stacked on a leading model axis:
    the interface of DeviceBatches that the steps and graphs.py use."""

    def __init__(self, members: list[DeviceBatches]) -> None:
        self.members = members
        self.size, self.batches = members[0].size, members[0].batches
        self.device = members[0].device

    @property
    def index_shape(self) -> tuple[int, ...]:
        return (len(self.members), *self.members[0].index_shape)

    def draw_index(self) -> torch.Tensor:
        """Every member's next (2, pairs) indices, drawn by its own sampler, on the host."""
        return torch.stack([member.draw_index() for member in self.members])

    def draw(self) -> list[Batch]:
        return self.from_index(to_device(self.draw_index(), self.device))

    def from_index(self, index: torch.Tensor) -> list[Batch]:
        """The n_critic + 1 stacked batches from (models, 2, pairs) device indices."""
        per_member = [member.from_index(index[k]) for k, member in enumerate(self.members)]
        return [stack_batches(list(parts)) for parts in zip(*per_member)]


class StackedEMA(EMA):
    """The members' EMA generators as stacked tensors, averaged with the same decay schedule
    (one lerp per tensor for all models)."""

    def __init__(self, emas: list[EMA]) -> None:  # noqa: D107 - EMA's fields, stacked
        first = emas[0]
        self.decay, self.ramp, self.weight = first.decay, first.ramp, None
        params, buffers = stack_module_state([ema.model for ema in emas])
        self.params = {name: p.detach() for name, p in params.items()}
        self.buffers = buffers
        self.keys = set(first.model.state_dict())

    def update(self, live: StackedModels, step: int) -> None:  # type: ignore[override]
        self.blend(
            list(self.params.values()),
            [p.detach() for p in live.params.values()],
            [b for name, b in self.buffers.items() if name in self.keys],
            [b for name, b in live.buffers.items() if name in self.keys],
            step,
        )

    def state_dict(self, k: int) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return model_state(self.params, self.buffers, self.keys, k)


class StackedStepper(GraphedIterations):
    """The iterations of G members (Steppers at the same step, one config but their seed and
    data) as one: what a Stepper offers IterationGraphs and the loop (step, eager_step,
    train_step, batches, ema, optimizers), for all of them at once. Losses are per model,
    shape (G,). The members keep their modules, which `write_back` brings up to date."""

    def __init__(self, members: list[Stepper]) -> None:
        first = members[0]
        steps = {m.step for m in members}
        if len(steps) > 1:
            raise GaunetError(
                f"the runs are at different steps ({', '.join(map(str, sorted(steps)))}); "
                "resume them one at a time (gaunet train --out RUN --resume)"
            )
        self.members = members
        self.cfg, self.device, self.family = first.cfg, first.device, first.family
        self.precision = first.precision
        self.step, self.images_seen = first.step, first.images_seen
        self.core = StackedStep(
            first.family,
            [m.generator for m in members],
            [m.critic for m in members],
            bf16=self.precision == "bf16",
        )
        self.opt_g, self.opt_d = self.core.opt_g, self.core.opt_d
        _stack_optimizer(self.opt_g, [m.opt_g for m in members])
        _stack_optimizer(self.opt_d, [m.opt_d for m in members])
        self.ema = StackedEMA([m.ema for m in members])
        self.batches = StackedBatches([m.batches for m in members])
        self.written_at = self.step  # the members hold this step's state already
        use_graphs, self.graphs_reason = graphs_decision(self.cfg, self.device, 1)
        self.graphs: IterationGraphs | None = IterationGraphs(self) if use_graphs else None

    @property
    def pairs_per_step(self) -> int:
        """Real pairs each model draws per iteration."""
        return self.cfg.batch_size * (self.cfg.n_critic + 1)

    def draw_iteration(self) -> list[Batch]:
        return self.batches.draw()

    def critic_step(self, batch: Batch, with_penalty: bool) -> dict[str, torch.Tensor]:
        return self.core.critic_step(batch, with_penalty)

    def generator_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        return self.core.generator_step(batch)

    def end_iteration(self) -> None:
        self.ema.update(self.core.generator, self.step)

    def write_back(self) -> None:
        """Each member's networks, EMA, optimizer state and counters from the stack, so its
        checkpoint and samples are those of a single run at this step (once per step: a
        sample grid and a checkpoint at one step share it)."""
        if self.written_at == self.step:
            return
        self.written_at = self.step
        for k, member in enumerate(self.members):
            member.generator.load_state_dict(self.core.generator.state_dict(k))
            member.critic.load_state_dict(self.core.critic.state_dict(k))
            member.ema.load_state_dict(self.ema.state_dict(k))
            _unstack_optimizer(self.opt_g, member.opt_g, k)
            _unstack_optimizer(self.opt_d, member.opt_d, k)
            member.step, member.images_seen = self.step, self.images_seen


def _stack_optimizer(stacked: torch.optim.Optimizer, singles: list[torch.optim.Optimizer]) -> None:
    """The members' Adam moments (a resumed run's) stacked into the stack's optimizer, and their
    learning rate (lowered by rollbacks). Members without state leave it fresh."""
    params = stacked.param_groups[0]["params"]
    own = [single.param_groups[0]["params"] for single in singles]
    if any(len(p) != len(params) for p in own):
        raise GaunetError("the runs to train together do not have the same networks")
    for group in stacked.param_groups:
        group["lr"] = singles[0].param_groups[0]["lr"]
    for i, param in enumerate(params):
        states = [single.state.get(p[i]) for single, p in zip(singles, own)]
        if not all(states):
            continue
        stacked.state[param] = {
            "step": states[0]["step"].detach().clone().to(param.device),
            "exp_avg": torch.stack([s["exp_avg"] for s in states]).to(param.device),
            "exp_avg_sq": torch.stack([s["exp_avg_sq"] for s in states]).to(param.device),
        }


def _unstack_optimizer(stacked: torch.optim.Optimizer, single: torch.optim.Optimizer, k: int):
    """Model k's Adam moments and learning rate into its own optimizer."""
    for group in single.param_groups:
        group["lr"] = stacked.param_groups[0]["lr"]
    own = single.param_groups[0]["params"]
    for param, mine in zip(stacked.param_groups[0]["params"], own):
        state = stacked.state.get(param)
        if not state:
            continue
        single.state[mine] = {
            "step": state["step"].detach().clone(),
            "exp_avg": state["exp_avg"][k].clone(),
            "exp_avg_sq": state["exp_avg_sq"][k].clone(),
        }


def _fields(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return batch.x_i, batch.x_j, batch.labels

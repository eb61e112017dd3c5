"""Whole training iterations captured as CUDA graphs and replayed: `gaunet train`'s path on CUDA.

At small image sizes an eager iteration is thousands of small kernels launched one by one from
Python, so a GPU waits on the host (issue 29: about 1 s per step at 28 px, whatever the batch).
A replayed graph launches them all at once. The iteration (step.py) makes no host sync
(tests/test_graph_safe_step.py; but for the `gan` baseline, whose per-class split reads class
counts on the host, so graphs_decision keeps it eager), so it is captured as it is: n_critic
critic steps with their penalties, the generator step, both fused Adam steps (capturable) and
the EMA.

What stays on the host, done before each replay: the pair sampler's indices (copied into a
static device tensor through a ring of pinned buffers), and the EMA's decay for this step
(written into a device scalar). The lazy penalty's pattern repeats every gp_every /
gcd(gp_every, n_critic) iterations, so there is one graph per phase of that cycle, sharing one
memory pool. Each phase runs eagerly at least once first (the warm-up: cuDNN autotuning,
optimizer state, autograd's buffers), and those warm-up iterations are ordinary training steps.
A resume or rollback replaces the optimizer state and may change the learning rates: the graphs
are then dropped and captured again after a new warm-up.

`emulate=True` runs the same bookkeeping on any device with each "replay" re-running the
captured step eagerly: the CPU tests check with it that a graphed run trains exactly as an
eager one.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from gaunet.errors import GaunetError, GaunetWarning
from gaunet.training.window import accumulate

if TYPE_CHECKING:
    from gaunet.config import TrainConfig
    from gaunet.training.loss import Batch, ModelFamily
    from gaunet.training.step import Stepper

PINNED_RING = 4  # pinned index buffers in flight: the host may run a few replays ahead


def graphs_decision(cfg: TrainConfig, device: torch.device, world_size: int) -> tuple[bool, str]:
    """(whether iterations are captured as CUDA graphs, why): `cuda_graphs` auto is on for a
    single CUDA process whose step is graph-safe; `true` asks for it (an error where it
    cannot run); `false` is the eager path."""
    setting = cfg.cuda_graphs  # "auto", "true" or "false" (TrainConfig.validate)
    if setting == "false":
        return False, "cuda_graphs is false in the config"
    blocker = None
    if device.type != "cuda":
        blocker = f"CUDA graphs need a CUDA device (this run is on {device.type})"
    elif world_size > 1:
        blocker = "torchrun with several processes trains eagerly (gradients are all-reduced)"
    elif cfg.compile:
        blocker = "compile=true: torch.compile and whole-iteration graphs do not combine"
    elif cfg.model == "gan":  # PerClass: torch.bincount(labels).tolist() in every forward
        blocker = "the gan baseline splits each batch by class with counts read on the host"
    elif cfg.diffaugment:  # its draws are on the device now; a capture is not yet measured
        blocker = "DiffAugment under CUDA graphs is not yet checked on a GPU"
    elif cfg.critic_pack > 1:  # its partner search is sync-free now; not yet measured either
        blocker = "critic_pack > 1 under CUDA graphs is not yet checked on a GPU"
    if blocker is None:
        return True, f"{setting}: whole iterations replayed as CUDA graphs"
    if setting == "auto":
        return False, f"auto: eager, since {blocker}"
    raise GaunetError(f"cuda_graphs is {cfg.cuda_graphs}, but {blocker}; use cuda_graphs=auto")


def penalty_phases(cfg: TrainConfig) -> int:
    """Iterations after which the lazy penalty's pattern over the critic steps repeats: one graph
    per phase."""
    return cfg.gp_every // math.gcd(cfg.gp_every, cfg.n_critic)


def set_capturable(optimizers: list[torch.optim.Optimizer], on: bool) -> None:
    """Adam's step count on the device and no host sync in its step: needed inside a graph.
    Also set after a checkpoint is loaded, since the saved param groups carry the flag."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["capturable"] = on


class CaptureFailed(RuntimeError):
    """The step could not be captured (an op that syncs or has a data-dependent shape)."""


class IterationGraphs:
    """`step(totals)` stands in for `Stepper.eager_step`: warm-up iterations run eagerly, then
    one graph per lazy-penalty phase is captured and replayed (see the module docstring)."""

    def __init__(self, stepper: Stepper, warmup: int = 2, emulate: bool = False) -> None:
        cfg = stepper.cfg
        self.stepper, self.emulate = stepper, emulate
        self.cuda = stepper.device.type == "cuda" and not emulate
        self.period = penalty_phases(cfg)
        # every phase runs eagerly before it is captured (its kernels autotuned, its buffers made)
        self.warmup = max(int(warmup), self.period)
        self.eager_left = self.warmup
        self.graphs: dict[int, Callable[[], None]] = {}
        self.outputs: dict[int, dict[str, torch.Tensor]] = {}
        self.captures = 0
        self.warmup_seconds: float | None = None  # first warm-up step -> graphs captured
        self._warmup_started: float | None = None
        shape = stepper.batches.index_shape  # (2, pairs); stacked models: (models, 2, pairs)
        device = stepper.device
        self.static_index = torch.zeros(shape, dtype=torch.long, device=device)
        self.pinned = [
            torch.zeros(shape, dtype=torch.long).pin_memory() if self.cuda else None
            for _ in range(PINNED_RING)
        ]
        self.copied = [torch.cuda.Event() if self.cuda else None for _ in range(PINNED_RING)]
        self.fills = 0
        self.side = torch.cuda.Stream(device) if self.cuda else None
        set_capturable([stepper.opt_g, stepper.opt_d], True)

    @property
    def ready(self) -> bool:
        return bool(self.graphs)

    def reset(self) -> None:
        """Drop the graphs (the optimizer state or learning rates changed): the next steps warm
        up and capture again."""
        self.graphs, self.outputs = {}, {}
        self.eager_left = self.warmup
        self.stepper.ema.weight = None
        set_capturable([self.stepper.opt_g, self.stepper.opt_d], True)

    def step(self, totals: dict[str, torch.Tensor]) -> None:
        if not self.graphs:
            if self.eager_left > 0:
                self._warmup_step(totals)
                return
            self.capture()
        self._replay(totals)

    # ----- warm-up and capture --------------------------------------------------------------
    def _warmup_step(self, totals: dict[str, torch.Tensor]) -> None:
        if self._warmup_started is None:
            self._warmup_started = time.perf_counter()
        self.eager_left -= 1
        if not self.cuda:
            self.stepper.eager_step(totals)
            return
        current = torch.cuda.current_stream(self.stepper.device)
        self.side.wait_stream(current)
        with torch.cuda.stream(self.side):  # lazy library state stays off the capture stream
            self.stepper.eager_step(totals)
        current.wait_stream(self.side)

    def capture(self) -> None:
        """One graph per phase of the penalty cycle, starting at the current step."""
        s = self.stepper
        started = self._warmup_started or time.perf_counter()
        s.ema.weight = torch.zeros((), device=s.device)  # written before each replay
        step, seen = s.step, s.images_seen
        pool = None
        try:
            for offset in range(self.period):
                phase = (step + offset) % self.period
                s.step = step + offset  # the lazy penalty's schedule reads the step
                outputs: dict[str, torch.Tensor] = {}
                self.outputs[phase] = outputs
                if not self.cuda:
                    self.graphs[phase] = self._emulated(outputs)
                    continue
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=pool):
                    s.eager_step(outputs, batches=s.batches.from_index(self.static_index))
                pool = graph.pool()
                self.graphs[phase] = graph.replay  # the bound method keeps the graph alive
        except Exception as error:  # noqa: BLE001 - any capture error: the caller falls back
            self.reset()
            if self.cuda:
                try:
                    torch.cuda.synchronize(s.device)
                except RuntimeError:  # a broken capture can leave an error to report here
                    pass
            raise CaptureFailed(
                f"the CUDA graph capture failed ({type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else ''})"
            ) from error
        finally:
            s.step, s.images_seen = step, seen
        if self.cuda:
            torch.cuda.synchronize(s.device)
        self.captures += 1
        if self.warmup_seconds is None:
            self.warmup_seconds = time.perf_counter() - started

    def _emulated(self, outputs: dict[str, torch.Tensor]) -> Callable[[], None]:
        """A replay that re-runs the step eagerly on the static inputs (tests, any device)."""
        s = self.stepper

        def replay() -> None:
            step, seen = s.step, s.images_seen
            fresh: dict[str, torch.Tensor] = {}
            s.eager_step(fresh, batches=s.batches.from_index(self.static_index))
            s.step, s.images_seen = step, seen
            outputs.clear()
            outputs.update(fresh)

        return replay

    # ----- replay -----------------------------------------------------------------------------
    def _fill_index(self) -> None:
        """This iteration's pairs into the static index: the same sampler call as an eager step
        (DeviceBatches.draw), so a graphed run draws the same pairs."""
        host = self.stepper.batches.draw_index()
        if not self.cuda:
            self.static_index.copy_(host)
            return
        slot = self.fills % PINNED_RING
        self.fills += 1
        self.copied[slot].synchronize()  # the copy that last read this buffer is done
        self.pinned[slot].copy_(host)
        self.static_index.copy_(self.pinned[slot], non_blocking=True)
        self.copied[slot].record()

    def _replay(self, totals: dict[str, torch.Tensor]) -> None:
        s = self.stepper
        phase = s.step % self.period
        self._fill_index()
        s.ema.weight.fill_(1.0 - s.ema.decay_at(s.step))
        self.graphs[phase]()
        for key, value in self.outputs[phase].items():  # overwritten by the next replay
            totals[key] = totals[key] + value if key in totals else value.clone()
        s.step += 1
        s.images_seen += s.pairs_per_step

    def describe(self) -> str:
        """One line for the log once the graphs exist."""
        return (
            f"CUDA graphs: {len(self.graphs)} captured after {self.warmup} warm-up iterations "
            f"({self.warmup_seconds or 0:.1f} s)"
        )


class GraphedIterations:
    """An iteration (Algorithm 1) and how a stepper runs it, eagerly or as graphs: one model's
    (step.Stepper) and stacked models' (stacked.StackedStepper) alike. The stepper has `cfg`,
    `family`, `step`, `images_seen`, `pairs_per_step`, `graphs`, `graphs_reason`, `ema`,
    `opt_g`, `opt_d`, and its own `draw_iteration`, `critic_step`, `generator_step` and
    `end_iteration`."""

    cfg: TrainConfig
    family: ModelFamily
    graphs: IterationGraphs | None
    graphs_reason: str
    step: int
    images_seen: int
    pairs_per_step: int

    def draw_iteration(self) -> list[Batch]:
        raise NotImplementedError

    def critic_step(self, batch: Batch, with_penalty: bool) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def generator_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def end_iteration(self) -> None:
        """After the generator step: buffers averaged over processes, the EMA updated."""
        raise NotImplementedError

    def eager_step(self, totals: dict[str, torch.Tensor], batches: list[Batch] | None = None):
        """One iteration: n_critic critic steps, one generator step; no host sync. `batches`
        (a graph capture's static ones) replaces the iteration's draw."""
        n_critic, lazy = self.cfg.n_critic, self.family.penalty
        *critic_batches, generator_batch = batches or self.draw_iteration()
        for t, batch in enumerate(critic_batches):
            stats = self.critic_step(batch, lazy.due(self.step * n_critic + t))
            penalty = stats.pop("gradient_penalty", None)
            accumulate(totals, stats, 1.0 / n_critic)
            if penalty is not None:  # a lazy penalty is logged as the mean of the steps it ran
                accumulate(totals, {"gradient_penalty": penalty}, lazy.every / n_critic)
        accumulate(totals, self.generator_step(generator_batch), 1.0)
        self.end_iteration()
        self.step += 1
        self.images_seen += self.pairs_per_step

    def train_step(self, totals: dict[str, torch.Tensor]) -> None:
        """One iteration: a CUDA-graph replay where graphs are on (after their warm-up), else
        the eager iteration; either way `step` advances by one and `totals` gains its stats."""
        if self.graphs is None:
            self.eager_step(totals)
            return
        try:
            self.graphs.step(totals)
        except CaptureFailed as failure:
            if self.cfg.cuda_graphs != "auto":
                raise GaunetError(f"cuda_graphs=true, but {failure}") from failure
            self._train_eagerly(f"auto: eager, since {failure}")
            self.eager_step(totals)

    def _train_eagerly(self, reason: str) -> None:
        """Leave graph mode for good (a capture failed under cuda_graphs=auto), and say why."""
        self.leave_graph_mode(reason)
        warnings.warn(f"{reason}; training continues eagerly", GaunetWarning, stacklevel=3)

    def leave_graph_mode(self, reason: str) -> None:
        """Eager from now on, with `reason` for run.json (also for the members of a stacked
        run, whose iterations are the stack's: stacked.py)."""
        self.graphs = None
        self.graphs_reason = reason
        self.ema.weight = None  # type: ignore[attr-defined]
        set_capturable([self.opt_g, self.opt_d], False)  # type: ignore[attr-defined]

    @property
    def warming_up(self) -> bool:
        """True while graph mode still runs its eager warm-up iterations."""
        return self.graphs is not None and not self.graphs.ready


def announce(graphs: IterationGraphs | None, show: bool) -> None:
    """Print the capture line once (stderr, beside the progress bar)."""
    if graphs is not None and show:
        print(graphs.describe(), file=sys.stderr)

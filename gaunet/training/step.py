"""One training iteration: n_critic critic steps, then one generator step (Algorithm 1), with
the networks, optimizers and pair batches of one process. The loop around it (budget, run
folder, checkpoints, rollbacks) is loop.py; what each step computes is the family's (loss*.py).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from torch import nn

from gaunet.config import TrainConfig
from gaunet.data import ImageSet
from gaunet.data.pairs import PairSampler
from gaunet.device import resolve_device
from gaunet.errors import GaunetError, GaunetWarning
from gaunet.precision import resolve_precision
from gaunet.training.batches import DeviceBatches
from gaunet.training.distributed import Distributed
from gaunet.training.ema import EMA
from gaunet.training.graphs import GraphedIterations, IterationGraphs, graphs_decision
from gaunet.training.loss import Batch, build_family


@contextmanager
def compile_failure_said() -> Iterator[None]:
    """`compile: true` failing inside torch's compiler (Inductor's "Cannot convert expression
    to float" on the CPU, torch 2.13, for the cpu-tiny generator at 32 px): one line that says
    what failed and what to do, not a traceback from deep inside torch; from `gaunet train` and
    from `gaunet.training.train(...)` alike."""
    try:
        yield
    except Exception as error:
        if not type(error).__module__.startswith(("torch._inductor", "torch._dynamo")):
            raise
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise GaunetError(
            f"torch.compile failed on this model ({type(error).__name__}: {first}); compile is "
            "off by default (it gained nothing on a CPU, docs/performance.md): train without "
            "--set compile=true (a run with a checkpoint keeps compile on --resume: start "
            "that one in another --out)"
        ) from None


@contextmanager
def cudnn_setting_kept() -> Iterator[None]:
    """torch.backends.cudnn.benchmark as it was before a training run set it for the whole
    process (a run's `cudnn_benchmark`): the classifier cells a benchmark runs after its
    generators in that process ran with autotuned kernels, its --jobs workers without."""
    before = torch.backends.cudnn.benchmark
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def unpaired_message(names: list[str]) -> str:
    return (
        f"class(es) {', '.join(map(repr, names))} have fewer than 2 training images: the "
        "generator never trains on them (a pair needs two images of a class), so `gaunet "
        "generate` leaves them out; add images of them or merge them into another class"
    )


def rank_seeds(seed: int, rank: int, step: int) -> tuple[int, int]:
    """The noise and pair-stream seeds of a rank > 0 starting or resuming at `step`: hashed
    from all three, so no two (rank, step) share a stream (the sum seed * 1000003 + rank + step
    gave rank 1 resumed at step s + 1 the pairs of rank 2 resumed at step s)."""
    state = np.random.SeedSequence([seed, rank, step]).generate_state(2, dtype=np.uint64)
    return int(state[0] >> np.uint64(1)), int(state[1] >> np.uint64(1))


class Stepper(GraphedIterations):
    """The networks, optimizers and batches of one process, and the iteration that trains
    them; `train_step` makes no host sync (a CUDA graph can capture it), but for the `gan`
    baseline's per-class split (graphs.py keeps that eager)."""

    def __init__(self, cfg: TrainConfig, data: ImageSet, dist: Distributed) -> None:
        self.cfg, self.data, self.dist = cfg, data, dist
        self.device = self._set_up_device()
        # "auto" -> bf16 only where the device does it natively; run.json records both
        self.precision, self.precision_reason = resolve_precision(
            cfg.precision, self.device, warn=dist.is_main
        )
        torch.manual_seed(cfg.seed)
        self.family = build_family(cfg, data.num_classes)
        self._build_networks()
        self.sampler = PairSampler(
            data.labels,
            seed=cfg.seed,
            balance=cfg.balance_classes,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        counts = np.bincount(data.labels, minlength=data.num_classes)
        self.unpaired_classes = [data.class_names[c] for c in np.flatnonzero(counts < 2)]
        if self.unpaired_classes and dist.is_main:
            warnings.warn(unpaired_message(self.unpaired_classes), GaunetWarning, stacklevel=2)
        self.batches = DeviceBatches(
            data, self.sampler, self.device, cfg.batch_size, cfg.n_critic + 1, cfg.channels_last
        )
        self.step = self.images_seen = 0
        self._reseed_rank()
        # CUDA graphs of whole iterations (graphs.py): the default on one CUDA process
        use_graphs, self.graphs_reason = graphs_decision(cfg, self.device, self.dist.world_size)
        self.graphs: IterationGraphs | None = IterationGraphs(self) if use_graphs else None

    def _set_up_device(self) -> torch.device:
        """This process's device, with the thread count and cuDNN set for it."""
        device = self.dist.device(resolve_device(self.cfg.device))
        if self.cfg.num_threads > 0:
            torch.set_num_threads(self.cfg.num_threads)
        if device.type == "cuda":
            if device.index is not None:
                torch.cuda.set_device(device)
            # fixed shapes: cuDNN may time its kernels once (slower warm-up) or use its heuristics
            torch.backends.cudnn.benchmark = bool(self.cfg.cudnn_benchmark)
        return device

    def _build_networks(self) -> None:
        """The family's generator and critic on the device (the same on every process), the EMA
        generator, both optimizers, and the forward passes the steps run."""
        cfg = self.cfg
        generator, critic = self.family.build()
        fmt = torch.channels_last if cfg.channels_last else torch.preserve_format
        self.generator = generator.to(self.device, memory_format=fmt).train()
        self.critic = critic.to(self.device, memory_format=fmt).train()
        self.dist.broadcast_state(self.generator)
        self.dist.broadcast_state(self.critic)
        self.ema = EMA(self.generator, cfg.ema_decay, cfg.ema_ramp)
        betas = (float(cfg.beta1), float(cfg.beta2))
        # one fused kernel per optimizer step instead of ~10 small ops per parameter tensor
        fused = self.device.type in ("cpu", "cuda")
        self.opt_g = torch.optim.Adam(
            self.generator.parameters(), lr=cfg.lr_g, betas=betas, fused=fused
        )
        self.opt_d = torch.optim.Adam(
            self.critic.parameters(), lr=cfg.lr_d, betas=betas, fused=fused
        )
        # torch.compile covers the forward passes only: it cannot trace the penalty's double
        # backward, so gradient_penalty() runs the critic's eager module (`_orig_mod`).
        self.generator_fwd: nn.Module = self.generator
        self.critic_fwd: nn.Module = self.critic
        if cfg.compile:
            self.generator_fwd = torch.compile(self.generator)
            self.critic_fwd = torch.compile(self.critic)

    def _reseed_rank(self) -> None:
        """Other ranks draw their own noise and dropout (rank 0 keeps the single-process stream,
        so a one-process torchrun run equals a plain one)."""
        if self.dist.rank:
            noise_seed, pair_seed = rank_seeds(self.cfg.seed, self.dist.rank, self.step)
            torch.manual_seed(noise_seed)
            self.sampler.generator.manual_seed(pair_seed)

    def draw_iteration(self) -> list[Batch]:
        """The n_critic + 1 batches of one iteration (see DeviceBatches.draw)."""
        return self.batches.draw()

    def batches_from_index(self, index: torch.Tensor) -> list[Batch]:
        """The iteration's batches from (2, pairs) device indices (a CUDA graph replays this)."""
        return self.batches.from_index(index)

    def autocast(self):
        if self.precision != "bf16":
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def critic_step(self, batch: Batch, with_penalty: bool) -> dict[str, torch.Tensor]:
        with self.autocast():
            loss, stats = self.family.critic_loss(
                self.generator_fwd, self.critic_fwd, batch, with_penalty
            )
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.dist.average_gradients(self.critic)
        self.opt_d.step()
        return stats

    def generator_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        self.critic.requires_grad_(False)
        try:  # restored on any error too: a failed graph capture here, then trained eagerly,
            with self.autocast():  # left the critic without gradients for the rest of the run
                loss, stats = self.family.generator_loss(self.generator_fwd, self.critic_fwd, batch)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            self.dist.average_gradients(self.generator)
            self.opt_g.step()
        finally:
            self.critic.requires_grad_(True)
        return stats

    def end_iteration(self) -> None:
        self.dist.average_buffers(self.generator)
        # the gan/cgan critics' batch norms too, so every rank holds (and saves) one model
        self.dist.average_buffers(self.critic)
        self.ema.update(self.generator, self.step)

    @property
    def pairs_per_step(self) -> int:
        """Real pairs drawn per iteration by all processes together."""
        return self.cfg.batch_size * (self.cfg.n_critic + 1) * self.dist.world_size

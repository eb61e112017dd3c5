"""The one trainer: n_critic critic steps, then one generator step (Algorithm 1), for whichever
model family `config.model` names. It owns the run folder, the budget, checkpoints, resume,
the EMA generator, sample grids and metrics; the family owns the networks and the losses.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gaunet.config import TrainConfig
from gaunet.data import ImageSet
from gaunet.data.imageset import to_unit_tensor
from gaunet.data.pairs import PairSampler
from gaunet.errors import GaunetError, GaunetWarning
from gaunet.models import Batch, build_family
from gaunet.progress import progress as progress_bar
from gaunet.training.checkpoint import (
    LAST,
    all_finite,
    load_checkpoint,
    prune_periodic,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from gaunet.training.distributed import Distributed
from gaunet.training.divergence import backed_off_lr, set_lr, window_finite
from gaunet.training.ema import EMA
from gaunet.training.run_folder import (
    MetricsLog,
    environment,
    grid_conditioning,
    save_grid,
    write_run_json,
)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GaunetError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


class Trainer:
    """State of one run; `run()` trains until the budget is spent or Ctrl-C."""

    def __init__(
        self,
        out: Path,
        cfg: TrainConfig,
        data: ImageSet,
        show_progress: bool,
        dist: Distributed | None = None,
    ) -> None:
        self.out, self.cfg, self.data = out, cfg, data
        self.dist = dist or Distributed()
        self.show_progress = show_progress and self.dist.is_main
        self.device = self.dist.device(resolve_device(cfg.device))
        if cfg.num_threads > 0:
            torch.set_num_threads(cfg.num_threads)
        if self.device.type == "cuda":
            if self.device.index is not None:
                torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its kernels
        torch.manual_seed(cfg.seed)
        self.family = build_family(cfg, data.num_classes)
        generator, critic = self.family.build()
        fmt = torch.channels_last if cfg.channels_last else torch.preserve_format
        self.generator = generator.to(self.device, memory_format=fmt).train()
        self.critic = critic.to(self.device, memory_format=fmt).train()
        self.dist.broadcast_state(self.generator)
        self.dist.broadcast_state(self.critic)
        self.ema = EMA(self.generator, cfg.ema_decay)
        betas = (float(cfg.beta1), float(cfg.beta2))
        # one fused kernel per optimizer step instead of ~10 small ops per parameter tensor
        fused = self.device.type in ("cpu", "cuda")
        self.opt_g = torch.optim.Adam(
            self.generator.parameters(), lr=cfg.lr_g, betas=betas, fused=fused
        )
        self.opt_d = torch.optim.Adam(
            self.critic.parameters(), lr=cfg.lr_d, betas=betas, fused=fused
        )
        self.sampler = PairSampler(
            data.labels,
            seed=cfg.seed,
            balance=cfg.balance_classes,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        self.images = torch.from_numpy(data.images).to(self.device)
        self.labels = torch.from_numpy(data.labels).to(self.device)
        rows, grid_labels = grid_conditioning(data, cfg.seed)
        self.grid_x = self._to_unit(self.images[torch.from_numpy(rows).to(self.device)])
        self.grid_labels = torch.from_numpy(grid_labels).to(self.device)
        noise_rng = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.grid_z = self.family.noise(cfg.grid_samples, self.device, generator=noise_rng)
        self.step = self.images_seen = self.rollbacks = 0
        self.wall_before = 0.0
        self.resumed_from: int | None = None
        self._reseed_rank()
        self.checkpoint_sha256 = ""
        self.steps_target: int | None = cfg.steps if cfg.steps > 0 else None  # set by train()
        self.launched: float | None = None  # perf_counter() when train() was called
        self.first_step_seconds: float | None = None
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
            torch.manual_seed(self.cfg.seed + 7919 * self.step + 104729 * self.dist.rank)
            self.sampler.generator.manual_seed(self.cfg.seed * 1000003 + self.dist.rank + self.step)

    # ----- state -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "format": 1,
            "model": self.cfg.model,
            "step": self.step,
            "images_seen": self.images_seen,
            "rollbacks": self.rollbacks,
            "wall_seconds": self.wall_before + self.elapsed(),
            "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(),
            "ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": rng_state(),
            "sampler": self.sampler.state_dict(),
            "config": self.cfg.to_dict(),
            "class_names": list(self.data.class_names),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.critic.load_state_dict(state["critic"])
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        set_rng_state(state["rng"])
        self.sampler.load_state_dict(state["sampler"])
        self.step, self.images_seen = int(state["step"]), int(state["images_seen"])
        self.rollbacks = int(state["rollbacks"])
        self.wall_before = float(state["wall_seconds"])
        self._reseed_rank()

    def save(self) -> bool:
        """last.pt (+ step-XXXXXX.pt on the periodic cadence); refuses non-finite weights.
        Only rank 0 writes; the others wait, so a rollback never reads a half-written file."""
        if not self.dist.is_main:
            self.dist.barrier()
            return True
        saved = self._write_checkpoint()
        self.dist.barrier()
        return saved

    def _write_checkpoint(self) -> bool:
        state = self.state()
        if not all_finite([state["generator"], state["critic"], state["ema"]]):
            warnings.warn(
                f"step {self.step}: non-finite weights, checkpoint not written",
                GaunetWarning,
                stacklevel=2,
            )
            return False
        folder = self.out / "checkpoints"
        paths = [folder / LAST]
        if self.cfg.periodic_every and self.step % self.cfg.periodic_every == 0:
            paths.append(folder / f"step-{self.step:06d}.pt")
        self.checkpoint_sha256 = save_checkpoint(state, paths)
        prune_periodic(folder, self.cfg.keep_periodic)
        return True

    # ----- one step ----------------------------------------------------------------------------
    @staticmethod
    def _to_unit(images: torch.Tensor) -> torch.Tensor:
        return to_unit_tensor(images)

    def draw_iteration(self) -> list[Batch]:
        """The n_critic + 1 batches of one iteration, drawn and sent to the device at once: the
        pair sampler runs on the host, and a blocking copy per batch would stall a GPU."""
        cfg = self.cfg
        count, size = cfg.n_critic + 1, cfg.batch_size
        first, second, _ = self.sampler.sample(size * count)
        index = torch.from_numpy(np.stack([first, second]))
        if self.device.type == "cuda":
            index = index.pin_memory().to(self.device, non_blocking=True)
        else:
            index = index.to(self.device)
        return self.batches_from_index(index)

    def batches_from_index(self, index: torch.Tensor) -> list[Batch]:
        """The iteration's batches from (2, pairs) device indices: gathered and converted on the
        device with no host work (a CUDA-graph capture replays exactly this)."""
        cfg = self.cfg
        count, size = cfg.n_critic + 1, cfg.batch_size
        images = self._to_unit(self.images[index])
        if cfg.channels_last:
            images = images.flatten(0, 1).contiguous(memory_format=torch.channels_last)
            images = images.view(2, size * count, *images.shape[1:])
        labels = self.labels[index[0]]
        parts = [slice(k * size, (k + 1) * size) for k in range(count)]
        return [Batch(images[0, s], images[1, s], labels[s]) for s in parts]

    def autocast(self):
        if self.cfg.precision != "bf16":
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
        with self.autocast():
            loss, stats = self.family.generator_loss(self.generator_fwd, self.critic_fwd, batch)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.dist.average_gradients(self.generator)
        self.opt_g.step()
        self.critic.requires_grad_(True)
        return stats

    def train_step(self, totals: dict[str, torch.Tensor]) -> None:
        """One iteration: n_critic critic steps, one generator step; no host sync."""
        cfg = self.cfg
        *critic_batches, generator_batch = self.draw_iteration()
        for t, batch in enumerate(critic_batches):
            critic_step = self.step * cfg.n_critic + t
            stats = self.critic_step(batch, critic_step % cfg.gp_every == 0)
            penalty = stats.pop("gradient_penalty", None)
            _accumulate(totals, stats, 1.0 / cfg.n_critic)
            if penalty is not None:  # a lazy penalty is logged as the mean of the steps it ran
                _accumulate(totals, {"gradient_penalty": penalty}, cfg.gp_every / cfg.n_critic)
        _accumulate(totals, self.generator_step(generator_batch), 1.0)
        self.dist.average_buffers(self.generator)
        self.ema.update(self.generator, self.step)
        self.step += 1
        self.images_seen += self.pairs_per_step

    @property
    def pairs_per_step(self) -> int:
        """Real pairs drawn per iteration by all processes together."""
        return self.cfg.batch_size * (self.cfg.n_critic + 1) * self.dist.world_size

    # ----- outputs -----------------------------------------------------------------------------
    @torch.no_grad()
    def sample_grid(self) -> Path:
        rows, cols = len(self.grid_x), len(self.grid_z)
        cond = self.grid_x.repeat_interleave(cols, 0)
        labels = self.grid_labels.repeat_interleave(cols, 0)
        z = self.grid_z.repeat(rows, 1)
        fake = self.family.sample(self.ema.model, cond, labels, z)
        path = self.out / "samples" / f"step-{self.step:06d}.png"
        try:
            save_grid(self.grid_x, fake.view(rows, cols, *fake.shape[1:]), path)
        except OSError as error:  # disk full: no truncated PNG left behind
            if path.is_file():
                path.unlink(missing_ok=True)
            raise OSError(error.errno, error.strerror or str(error), str(path)) from None
        return path

    def elapsed(self) -> float:
        return time.perf_counter() - self.started if hasattr(self, "started") else 0.0

    def write_run_json(self, finished: bool, status: str | None = None) -> None:
        """run.json. `status`: "running", "completed", "budget_exhausted" (a --minutes budget
        ended the run below `steps_target`) or "interrupted"; `finished` (kept for older
        readers) is true for both completed and budget_exhausted runs."""
        if not self.dist.is_main:
            return
        wall = self.wall_before + self.elapsed()
        started = getattr(self, "started", None)
        startup = started - self.launched if self.launched and started else None
        path = self.out / "run.json"
        try:
            self._write_run_json(path, finished, status, wall, startup)
        except OSError as error:  # disk full: no run.json.tmp left behind
            path.with_suffix(".json.tmp").unlink(missing_ok=True)
            raise OSError(error.errno, error.strerror or str(error), str(path)) from None

    def _write_run_json(self, path, finished, status, wall, startup) -> None:
        write_run_json(
            path,
            {
                "model": self.cfg.model,
                "data": self.cfg.data,
                "seed": self.cfg.seed,
                "steps": self.step,
                "steps_target": self.steps_target,
                "status": status or ("completed" if finished else "running"),
                "images_seen": self.images_seen,
                "wall_seconds": round(wall, 3),
                "images_per_second": round(self.images_seen / wall, 3) if wall else None,
                "finished": finished,
                # this invocation: train() call -> loop start (import excluded; outside any
                # --minutes budget), and loop start -> end of the first step (inside it)
                "startup_seconds": round(startup, 3) if startup is not None else None,
                "first_step_seconds": (
                    round(self.first_step_seconds, 3) if self.first_step_seconds else None
                ),
                "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "resumed_from_step": self.resumed_from,
                "rollbacks": self.rollbacks,
                "train_images": len(self.data),
                "class_names": list(self.data.class_names),
                **environment(self.device, self.dist.world_size),
                "checkpoint": f"checkpoints/{LAST}",
                "checkpoint_sha256": self.checkpoint_sha256,
            },
        )

    # ----- the loop ----------------------------------------------------------------------------
    def rollback(self, initial: dict[str, Any], log: MetricsLog | None = None) -> None:
        """Non-finite losses: restore the last good checkpoint (or the start) and reseed; the
        metrics logged after the restored step are dropped, since those steps run again."""
        self.rollbacks += 1
        if self.rollbacks > self.cfg.max_rollbacks:
            raise GaunetError(
                f"{self.out}: losses became non-finite {self.rollbacks} times; lower the learning "
                "rates (--set lr_g=... lr_d=...) or use precision fp32"
            )
        try:
            state, _, _ = load_checkpoint(self.out / "checkpoints", map_location="cpu")
        except GaunetError:
            state = initial
        rollbacks = self.rollbacks
        self.load_state(state)
        self.rollbacks = rollbacks
        if log:
            log.truncate_after(self.step)
        lr_g, lr_d = (backed_off_lr(lr, rollbacks) for lr in (self.cfg.lr_g, self.cfg.lr_d))
        set_lr(self.opt_g, lr_g)
        set_lr(self.opt_d, lr_d)
        torch.manual_seed(self.cfg.seed + 7919 * rollbacks + 104729 * self.dist.rank)
        warnings.warn(
            f"non-finite loss; rolled back to step {self.step} (rollback {rollbacks}), "
            f"learning rates lowered to lr_g={lr_g:.3g} lr_d={lr_d:.3g}",
            GaunetWarning,
            stacklevel=2,
        )

    def run(self) -> None:
        cfg = self.cfg
        self.started = time.perf_counter()
        deadline = self.started + cfg.minutes * 60 if cfg.minutes > 0 else math.inf
        initial = _cpu_copy(self.state())  # state_dict() aliases live tensors: copy them
        log = MetricsLog(self.out, cfg.tensorboard) if self.dist.is_main else None
        if log:
            log.truncate_after(self.step)  # a resume re-runs the steps after its checkpoint
        bar = progress_bar(
            total=cfg.steps or None,
            initial=self.step,
            desc="train",
            unit="step",
            disable=not self.show_progress,
        )
        totals: dict[str, torch.Tensor] = {}
        window_start, window_steps = time.perf_counter(), 0
        reason = self._stop_reason(deadline)
        try:
            while reason is None:
                self.train_step(totals)
                window_steps += 1
                bar.update(1)
                if self.first_step_seconds is None:
                    self.first_step_seconds = time.perf_counter() - self.started
                reason = self._stop_reason(deadline)
                saving = cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0
                if (saving or reason) and not window_finite(totals, self.dist.mean):
                    self.rollback(initial, log)  # never checkpoint or finish on a diverged window
                    totals, window_steps = {}, 0
                    bar.n = self.step
                    reason = self._stop_reason(deadline)
                    continue
                # the last step is always logged: a run shorter than log_every still has metrics
                if self.step % cfg.log_every == 0 or reason:
                    now = time.perf_counter()
                    record = _summary(totals, window_steps, self.dist)
                    totals, rate_steps, window_steps = {}, window_steps, 0
                    if not all(math.isfinite(v) for v in record.values()):
                        self.rollback(initial, log)
                        bar.n = self.step
                        reason = self._stop_reason(deadline)
                        continue
                    rate = rate_steps * self.pairs_per_step / max(now - window_start, 1e-9)
                    window_start = now
                    record.update(self._progress_fields(rate))
                    if log:
                        log.write(record)
                    bar.set_postfix(_postfix(record, deadline - now))
                if cfg.sample_every and self.step % cfg.sample_every == 0 and self.dist.is_main:
                    self.sample_grid()
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save()
                    self.write_run_json(finished=False)
        except KeyboardInterrupt:
            bar.close()
            saved = self.save()
            self.write_run_json(finished=False, status="interrupted")
            if log:
                log.close()
            where = f"checkpoint saved at step {self.step}" if saved else "no checkpoint written"
            print(
                f"interrupted: {where}; continue with: gaunet train --out {self.out} --resume",
                file=sys.stderr,
            )
            raise
        finally:
            bar.close()
        if self.dist.is_main:
            self.sample_grid()
        self.save()
        self.write_run_json(finished=True, status=self._status(reason))
        if log:
            log.close()

    def _stop_reason(self, deadline: float) -> str | None:
        """ "steps" when the step limit is reached, "time" when the budget is spent, else None.
        Called once per step (a collective under torchrun)."""
        if self.cfg.steps > 0 and self.step >= self.cfg.steps:
            return "steps"
        return "time" if self._out_of_time(deadline) else None

    def _status(self, reason: str | None) -> str:
        """run.json's status of a run that ended by itself: "completed" when it reached its
        step target, "budget_exhausted" when the --minutes budget stopped it short of it."""
        if self.steps_target and self.step >= self.steps_target:
            return "completed"
        return "budget_exhausted" if reason == "time" else "completed"

    def _progress_fields(self, rate: float) -> dict[str, float | int]:
        """What a metrics.jsonl record holds besides the window's mean losses."""
        return {
            "step": self.step,
            "images_per_second": round(rate, 2),
            "images_seen": self.images_seen,
            "elapsed_seconds": round(self.wall_before + self.elapsed(), 2),
            "rollbacks": self.rollbacks,
            "lr_g": self.opt_g.param_groups[0]["lr"],
            "lr_d": self.opt_d.param_groups[0]["lr"],
        }

    def _out_of_time(self, deadline: float) -> bool:
        if deadline == math.inf:
            return False
        return self.dist.main_says(time.perf_counter() >= deadline, self.device)


def _postfix(record: dict[str, float], seconds_left: float) -> dict[str, str]:
    """Progress-bar fields; a --minutes budget adds its countdown, since the bar's own ETA
    counts steps, not the budget."""
    fields = {
        "d": f"{record['loss_d']:.3f}",
        "g": f"{record['loss_g']:.3f}",
        "img_s": f"{record['images_per_second']:.0f}",
    }
    if seconds_left != math.inf:
        left = max(seconds_left, 0.0)
        fields["budget_left"] = f"{int(left // 60)}:{int(left % 60):02d}"
    return fields


def _cpu_copy(state: Any) -> Any:
    """A deep copy of a (nested) state with every tensor cloned to the CPU."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: _cpu_copy(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_cpu_copy(v) for v in state)
    return state


def _accumulate(totals: dict[str, torch.Tensor], stats: dict[str, torch.Tensor], w: float) -> None:
    for key, value in stats.items():
        totals[key] = totals[key] + value.float() * w if key in totals else value.float() * w


def _summary(totals: dict[str, torch.Tensor], steps: int, dist: Distributed) -> dict[str, float]:
    """Means over the log window (and the processes); the only host sync of the loop."""
    if not totals:
        return {}
    stacked = dist.mean(torch.stack(list(totals.values()))).cpu().tolist()
    return {k: v / max(steps, 1) for k, v in zip(totals, stacked)}

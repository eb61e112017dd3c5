"""The one trainer, for whichever model family `config.model` names: it runs the iterations of
step.py (n_critic critic steps, then one generator step: Algorithm 1) and owns the run folder,
the budget, checkpoints, resume, rollbacks, sample grids and metrics; the family (loss*.py)
owns the networks and the losses.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gaunet.config import TrainConfig
from gaunet.data import ImageSet
from gaunet.data.imageset import to_unit_tensor
from gaunet.errors import GaunetError, GaunetWarning
from gaunet.io import write_json
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
from gaunet.training.graphs import announce, set_capturable
from gaunet.training.run_folder import MetricsLog, environment, grid_conditioning, save_grid
from gaunet.training.run_loop import RunLoop
from gaunet.training.step import Stepper
from gaunet.training.warm_start import warm_start
from gaunet.training.window import LogWindow, cpu_copy, postfix

STOP_CHECK_STEPS = 5  # torchrun on a GPU: a Ctrl-C stops all ranks within this many steps

if TYPE_CHECKING:
    from tqdm.auto import tqdm


class Trainer(Stepper, RunLoop):
    """One run around the steps (see Stepper): `run()` (run_loop.py) trains until the budget is
    spent or Ctrl-C, with the run folder, checkpoints, rollbacks, metrics and sample grids."""

    def __init__(
        self,
        out: Path,
        cfg: TrainConfig,
        data: ImageSet,
        show_progress: bool,
        dist: Distributed | None = None,
    ) -> None:
        super().__init__(cfg, data, dist or Distributed())
        self.out = out
        self.show_progress = show_progress and self.dist.is_main
        rows, grid_labels = grid_conditioning(data, cfg.seed)
        self.grid_x = to_unit_tensor(self.batches.images[torch.from_numpy(rows).to(self.device)])
        self.grid_labels = torch.from_numpy(grid_labels).to(self.device)
        noise_rng = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.grid_z = self.family.noise(cfg.grid_samples, self.device, generator=noise_rng)
        self.rollbacks = 0
        self.wall_before = 0.0
        self.resumed_from: int | None = None
        self.checkpoint_sha256 = ""
        self.warm_start: dict[str, Any] | None = None  # what init_from carried (run.json)
        self.steps_target: int | None = cfg.steps if cfg.steps > 0 else None  # set by train()
        self.launched: float | None = None  # perf_counter() when train() was called
        self.first_step_seconds: float | None = None
        self.run_notes: dict[str, Any] = {}  # written over run.json's fields (stacked runs)
        self.resume_hint = ""  # how an interrupt says to continue ("": gaunet train --resume)

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
            "precision_used": self.precision,  # what `auto` resolved to for this run
            "class_names": list(self.data.class_names),
            "warm_start": self.warm_start,
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
        self.warm_start = state.get("warm_start")
        used = state.get("precision_used")
        if self.cfg.precision == "auto" and used in ("fp32", "bf16") and used != self.precision:
            # `auto` is resolved once, when a run starts: a run begun in fp32 on a CPU without
            # native bf16 and resumed on a GPU (or the reverse) continues in its own arithmetic
            self.precision_reason = (
                f"{used}: precision auto as resolved when this run started (here it would be "
                f"{self.precision})"
            )
            emulated = used == "bf16" and self.device.type == "cpu"  # auto here: fp32
            self.precision = used
            if self.dist.is_main:
                print(f"note: {self.precision_reason}", file=sys.stderr)
            if emulated and self.dist.is_main:  # begun where bf16 was native: slow here
                warnings.warn(
                    "this run began in bf16 where the CPU had it natively; this CPU has no "
                    "native bf16, so it is emulated and can be several times slower (a resume "
                    "keeps its precision): resume it on such a CPU or a GPU, or start a new run "
                    "here with --set precision=fp32",
                    GaunetWarning,
                    stacklevel=2,
                )
        self._reseed_rank()
        # the saved param groups carry the capture flag of the run that wrote them
        set_capturable([self.opt_g, self.opt_d], self.graphs is not None)
        if self.graphs is not None:
            self.graphs.reset()  # new optimizer state tensors: capture again after a warm-up

    def start_from(self, source: str) -> None:
        """Fresh optimizers, step 0, and `source`'s weights (init_from; training/warm_start.py);
        the EMA generator starts as the loaded one."""
        report = warm_start(
            self.generator, self.critic, source, self.cfg.model, list(self.data.class_names)
        )
        self.ema.model.load_state_dict(self.generator.state_dict())
        self.warm_start = report.to_dict()
        if self.show_progress:
            fresh = f"; left as initialised: {', '.join(report.fresh)}" if report.fresh else ""
            print(
                f"init_from {report.checkpoint} (step {report.source_step}): "
                f"{report.carried} tensors carried{fresh}",
                file=sys.stderr,
            )

    def save(self) -> bool:
        """last.pt (+ step-XXXXXX.pt on the periodic cadence); refuses non-finite weights.
        Only rank 0 writes; the others wait, so a rollback never reads a half-written file."""
        if not self.dist.is_main:
            self.dist.barrier()
            return True
        saved = self._write_checkpoint()
        self.dist.barrier()
        return saved

    def _stop_agreed(self, noted: bool) -> bool:
        """Under torchrun, whether any rank noted a Ctrl-C: one collective after every step on
        the CPU (where a step can take minutes and torchrun kills 30 s after its signal), every
        STOP_CHECK_STEPS steps on a GPU (each check waits for the step's kernels)."""
        every = 1 if self.device.type == "cpu" else STOP_CHECK_STEPS
        if not self.dist.enabled or self.step % every:
            return False
        return self.dist.any_says(noted, self.device)

    def _checkpoint_due(self, saved_at: float) -> bool:
        """At every checkpoint_every step, and at every periodic_every step too, so a periodic
        snapshot is never skipped when the two intervals do not divide each other; and at the
        first log step checkpoint_minutes after `saved_at` (rank 0's clock decides for all)."""
        intervals = (self.cfg.checkpoint_every, self.cfg.periodic_every)
        if any(every and self.step % every == 0 for every in intervals):
            return True
        minutes = self.cfg.checkpoint_minutes
        if minutes <= 0 or self.step % self.cfg.log_every:
            return False
        return self.dist.main_says(time.perf_counter() - saved_at >= minutes * 60, self.device)

    def _write_checkpoint(self) -> bool:
        state = self.state()
        if not all_finite([state[k] for k in ("generator", "critic", "ema", "opt_g", "opt_d")]):
            warnings.warn(
                f"step {self.step}: non-finite weights or Adam moments, checkpoint not written",
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

    # ----- outputs -----------------------------------------------------------------------------
    @torch.no_grad()
    def sample_grid(self) -> Path:
        rows, cols = len(self.grid_x), len(self.grid_z)
        cond = self.grid_x.repeat_interleave(cols, 0)
        labels = self.grid_labels.repeat_interleave(cols, 0)
        z = self.grid_z.repeat(rows, 1)
        fake = self.family.sample(self.ema.model, cond, labels, z)
        path = self.out / "samples" / f"step-{self.step:06d}.png"
        save_grid(self.grid_x, fake.view(rows, cols, *fake.shape[1:]), path)  # atomic
        return path

    def elapsed(self) -> float:
        return time.perf_counter() - self.started if hasattr(self, "started") else 0.0

    def write_run_json(self, finished: bool, status: str | None = None) -> None:
        """run.json. `status`: "running", "completed", "budget_exhausted" (a --minutes budget
        ended the run below `steps_target`), "interrupted" or "diverged"; `finished` (kept for
        older readers) is true for both completed and budget_exhausted runs."""
        if not self.dist.is_main:
            return
        wall = self.wall_before + self.elapsed()
        started = getattr(self, "started", None)
        startup = started - self.launched if self.launched and started else None
        # atomic: a full disk leaves the previous run.json and no temporary
        write_json(
            self.out / "run.json",
            {
                "model": self.cfg.model,
                "data": self.cfg.data,
                # what --resume --data is compared with (training/resume_checks.py)
                "data_fingerprint": self.data.info.get("source_fingerprint") or None,
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
                "init_from": self.warm_start,
                "precision": self.precision,
                "precision_reason": self.precision_reason,
                "unpaired_classes": self.unpaired_classes,  # never trained on: generate skips
                "cuda_graphs": self.graphs is not None,
                "cuda_graphs_reason": self.graphs_reason,
                # graph mode: first warm-up step -> graphs captured (this invocation)
                "warmup_seconds": (
                    round(self.graphs.warmup_seconds, 3)
                    if self.graphs is not None and self.graphs.warmup_seconds
                    else None
                ),
                **environment(self.device, self.dist.world_size),
                "checkpoint": f"checkpoints/{LAST}",
                "checkpoint_sha256": self.checkpoint_sha256,
                **self.run_notes,
            },
        )

    # ----- rollbacks ---------------------------------------------------------------------------
    def rollback(self, initial: dict[str, Any], log: MetricsLog | None = None) -> None:
        """Non-finite losses: restore the last good checkpoint (or the start) and reseed; the
        metrics logged after the restored step are dropped, since those steps run again."""
        self.rollbacks += 1
        try:
            state, _, _ = load_checkpoint(self.out / "checkpoints", map_location="cpu")
        except GaunetError:
            state = initial
        rollbacks, wall_before = self.rollbacks, self.wall_before
        self.load_state(state)
        # the count and clock go on (wall_before holds the checkpoint's time: not counted twice)
        self.rollbacks, self.wall_before = rollbacks, wall_before
        if log:
            log.truncate_after(self.step)
        lr_g, lr_d = (backed_off_lr(lr, rollbacks) for lr in (self.cfg.lr_g, self.cfg.lr_d))
        set_lr(self.opt_g, lr_g)
        set_lr(self.opt_d, lr_d)
        torch.manual_seed(self.cfg.seed + 7919 * rollbacks + 104729 * self.dist.rank)
        if rollbacks > self.cfg.max_rollbacks:
            self._give_up()
        if self.dist.is_main:  # under torchrun every rank rolls back: one warning, not one each
            warnings.warn(
                f"non-finite loss; rolled back to step {self.step} (rollback {rollbacks}), "
                f"learning rates lowered to lr_g={lr_g:.3g} lr_d={lr_d:.3g}",
                GaunetWarning,
                stacklevel=2,
            )

    def _give_up(self) -> None:
        """max_rollbacks spent: the last good checkpoint is saved again as this rollback left it
        (its weights, the rates lowered once more, the count), so a resume with more rollbacks
        tries new rates, not the failed ones; run.json says "diverged" at that step, and the
        message names a resume that runs (a --minutes run's needs its budget again)."""
        times, good = self.rollbacks, self.step
        self.save()
        self.write_run_json(finished=False, status="diverged")
        again = f"gaunet train --out {self.out} --resume --set max_rollbacks={2 * times}"
        again += f" --minutes {self.cfg.minutes:g}" if self.cfg.steps == 0 else ""
        raise GaunetError(
            f"{self.out}: losses became non-finite {times} times (max_rollbacks "
            f"{self.cfg.max_rollbacks}); the last good checkpoint (step {good}) is kept: continue "
            f"from it with `{again}`, or train a new run (another --out) with lower learning "
            "rates (--set lr_g=... lr_d=...) or --set precision=fp32"
        )

    # ----- the loop's hooks (run_loop.py) ------------------------------------------------------
    def _begin(self, started: float) -> tuple[dict[str, Any], list[MetricsLog]]:
        """The clock, the state at the start, and the metrics log (rank 0's alone)."""
        self.started = started
        initial = cpu_copy(self.state())  # state_dict() aliases live tensors: copy them
        logs = [MetricsLog(self.out, self.cfg.tensorboard)] if self.dist.is_main else []
        return initial, logs

    def _bar_description(self, warming_up: bool) -> str:
        return "train (warm-up: autotuning, CUDA graph capture)" if warming_up else "train"

    def _warm_up_ended(self) -> None:
        announce(self.graphs, self.show_progress)

    def _window_finite(self, totals: dict[str, torch.Tensor]) -> bool:
        """A collective: every process reaches the same answer. Adam's moments too."""
        return window_finite(totals, self.dist.mean, (self.opt_g, self.opt_d))

    def _log_window(
        self, window: LogWindow, logs: list[MetricsLog], bar: tqdm, deadline: float
    ) -> bool:
        """One metrics record: the window's means over the processes."""
        record, steps, now = window.close(self.dist)
        if not all(math.isfinite(v) for v in record.values()):
            return False
        rate = steps * self.pairs_per_step / max(now - window.start, 1e-9)
        window.start = now
        record.update(self._progress_fields(rate))
        for log in logs:
            log.write(record)
        bar.set_postfix(postfix(record, deadline - now))
        return True

    def _diverged(self, initial: dict[str, Any], logs: list[MetricsLog]) -> None:
        self.rollback(initial, logs[0] if logs else None)

    def _sample_grids(self) -> None:
        """Rank 0's: the processes share one run folder."""
        if self.dist.is_main:
            self.sample_grid()

    def _save_run(self, finished: bool, status: str | None = None) -> bool:
        if saved := self.save():  # refused (non-finite): run.json keeps naming last.pt's step
            self.write_run_json(finished=finished, status=status)
        return saved

    def _interrupted_message(self, saved: bool) -> str:
        where = f"checkpoint saved at step {self.step}" if saved else "no checkpoint written"
        hint = self.resume_hint or f"gaunet train --out {self.out} --resume"
        return f"{where}; continue with: {hint}"

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

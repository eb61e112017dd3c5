"""The loop of a stacked run: G Trainers (one run folder each: its config, data, seed,
checkpoints, metrics, samples and run.json) whose iterations run together as one StackedStepper
(stacked.py). Its loop is a single run's (run_loop.py): the same budget, log windows, checkpoint
cadence, rollbacks and Ctrl-C handling, once for all members. Each member's folder ends as a
single run's does, so `gaunet generate`, `--resume` (alone or together) and the benchmark read it
as they read any run.

Why: a GPU is bound by kernel launches at small sizes, and five stacked models launch 1.25x the
kernels of one (docs/performance.md, "Several generators stepped as one"), so G subsets'
generators should train in little more than the time of one (issue 29, item 2; not yet
measured on a GPU; on a CPU stacking is 0.92x).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import torch

from gaunet.errors import GaunetError
from gaunet.training.divergence import window_finite
from gaunet.training.graphs import announce
from gaunet.training.loop import Trainer
from gaunet.training.resume_checks import already_completed
from gaunet.training.run_folder import MetricsLog
from gaunet.training.run_loop import RunLoop
from gaunet.training.stacked import StackedStepper
from gaunet.training.window import LogWindow, cpu_copy, postfix

if TYPE_CHECKING:
    from tqdm.auto import tqdm

# settings that may differ between the runs of one stack: everything else is shared
PER_RUN = ("seed", "data", "init_from")


def check_stackable(members: list[Trainer]) -> None:
    """One line naming the first setting that keeps these runs from training together."""
    if not members:
        raise GaunetError("no runs to train together")
    first = members[0]
    shared = {k: v for k, v in first.cfg.to_dict().items() if k not in PER_RUN}
    for member in members[1:]:
        theirs = member.cfg.to_dict()
        for key, value in shared.items():
            if theirs.get(key) != value:
                raise GaunetError(
                    f"{member.out}: {key} is {theirs.get(key)!r}, but {first.out} has {value!r}; "
                    "runs trained together share every setting but seed, data and init_from"
                )
        if member.data.class_names != first.data.class_names:
            raise GaunetError(
                f"{member.out}: classes {list(member.data.class_names)} differ from "
                f"{first.out}'s {list(first.data.class_names)}"
            )
        if member.precision != first.precision:  # `auto` as each run resolved it when it began
            raise GaunetError(
                f"{member.out}: trains in {member.precision}, but {first.out} in "
                f"{first.precision} (precision auto as each run resolved it when it started); "
                "one stack has one precision: resume them one at a time"
            )
        rates = [
            (m.opt_g.param_groups[0]["lr"], m.opt_d.param_groups[0]["lr"]) for m in (member, first)
        ]
        if rates[0] != rates[1]:  # lowered by a rollback of one run alone: one stack, one rate
            raise GaunetError(
                f"{member.out}: learning rates (lr_g, lr_d) {rates[0]}, but {first.out} has "
                f"{rates[1]} (lowered by rollbacks); resume them one at a time"
            )
    cfg = first.cfg
    blocker = None
    if cfg.diffaugment:
        blocker = "diffaugment is not yet checked under vmap over the models"
    elif cfg.critic_pack > 1:
        blocker = "critic_pack > 1 is not yet checked under vmap over the models"
    elif cfg.compile:
        blocker = "compile=true does not combine with vmap over the models"
    if blocker:
        raise GaunetError(f"{first.out}: these runs cannot train together: {blocker}")
    if len({str(m.device) for m in members}) > 1:
        raise GaunetError("runs trained together must be on one device")


class StackedTrainer(RunLoop):
    """`run()` (run_loop.py) trains every member until the shared budget is spent or Ctrl-C;
    each member's folder gets what a single run writes (metrics.jsonl, samples, checkpoints,
    run.json)."""

    def __init__(self, members: list[Trainer], show_progress: bool) -> None:
        check_stackable(members)
        self.members = members
        self.cfg = members[0].cfg
        self.show_progress = show_progress
        self.resume_hint = ""  # how an interrupt says to continue ("": rerun, or one --resume)
        for member in members:  # the stack's iterations are theirs: no graphs of their own
            member.leave_graph_mode("stacked")
        self.stepper = StackedStepper(members)

    @property
    def step(self) -> int:
        return self.stepper.step

    def run(self) -> None:
        """RunLoop.run, unless every member already completed its steps (a rerun of the same
        call): then nothing is trained or rewritten, as train() leaves a completed run (its
        last.pt rewritten would match no `checkpoint_sha256` its generated images record)."""
        steps = self.cfg.steps
        done = [already_completed(m.out, steps, m.step, m.checkpoint_sha256) for m in self.members]
        if not all(done):
            super().run()
            return
        print(
            f"{len(self.members)} runs already completed (step {self.step} of {steps}); nothing "
            f"to train, nothing rewritten (give --steps {self.step + 1} or more to train on)",
            file=sys.stderr,
        )

    @property
    def first_step_seconds(self) -> float | None:
        return self.members[0].first_step_seconds

    @first_step_seconds.setter
    def first_step_seconds(self, seconds: float | None) -> None:
        """Every member's: their iterations are one."""
        for member in self.members:
            member.first_step_seconds = seconds

    def _note_members(self) -> None:
        """run.json fields saying the run was one of a stack, and how its iterations ran."""
        graphs = self.stepper.graphs
        outs = [str(m.out) for m in self.members]
        for k, member in enumerate(self.members):
            member.run_notes = {
                "stacked": {"models": len(self.members), "index": k, "runs": outs},
                "cuda_graphs": graphs is not None,
                "cuda_graphs_reason": f"stacked with {len(outs)} models; {self.stepper.graphs_reason}",
                "warmup_seconds": (
                    round(graphs.warmup_seconds, 3)
                    if graphs is not None and graphs.warmup_seconds
                    else None
                ),
            }

    # ----- the loop's hooks (run_loop.py) ------------------------------------------------------
    @property
    def warming_up(self) -> bool:
        return self.stepper.warming_up

    def train_step(self, totals: dict[str, torch.Tensor]) -> None:
        """One iteration of the stack. The members' step counters follow the stack's (their
        checkpoint cadence reads them; their weights follow at write_back)."""
        self.stepper.train_step(totals)
        for member in self.members:
            member.step, member.images_seen = self.step, self.stepper.images_seen

    def _begin(self, started: float) -> tuple[list[dict[str, Any]], list[MetricsLog]]:
        """Every member's clock, state at the start and metrics log."""
        for member in self.members:
            member.started = started
        initial = [cpu_copy(m.state()) for m in self.members]
        logs = [MetricsLog(m.out, self.cfg.tensorboard) for m in self.members]
        self._note_members()
        return initial, logs

    def _bar_description(self, warming_up: bool) -> str:
        label = f"train {len(self.members)} models"
        return f"{label} (warm-up: CUDA graph capture)" if warming_up else label

    def _warm_up_ended(self) -> None:
        announce(self.stepper.graphs, self.show_progress)
        self._note_members()

    def _window_finite(self, totals: dict[str, torch.Tensor]) -> bool:
        return window_finite(totals, optimizers=(self.stepper.opt_g, self.stepper.opt_d))

    def _log_window(
        self, window: LogWindow, logs: list[MetricsLog], bar: tqdm, deadline: float
    ) -> bool:
        """One record per member: False when any model's losses went non-finite (then all roll
        back together)."""
        now = time.perf_counter()
        keys = list(window.totals)
        if not keys:
            window.clear()
            return True
        means = (torch.stack([window.totals[k] for k in keys]).cpu() / max(window.steps, 1)).T
        if not bool(torch.isfinite(means).all()):
            return False
        rate = window.steps * self.stepper.pairs_per_step / max(now - window.start, 1e-9)
        window.start = now
        window.clear()
        records = []
        for member, log, row in zip(self.members, logs, means.tolist()):
            record = dict(zip(keys, row))
            record.update(member._progress_fields(rate))
            log.write(record)
            records.append(record)
        mean = {k: sum(r[k] for r in records) / len(records) for k in ("loss_d", "loss_g")}
        bar.set_postfix(postfix({**mean, "images_per_second": rate * len(records)}, deadline - now))
        return True

    def _diverged(self, initial: list[dict[str, Any]], logs: list[MetricsLog]) -> None:
        """Non-finite losses in any model: every member back to its last good checkpoint (they
        are written together, so at one step) with lowered learning rates, then stacked again.
        When max_rollbacks is spent, every member gives up (each saves its rolled-back state,
        so a rerun of the stack finds them at one step and one rate) before the first says so."""
        refusals = []
        for member, state, log in zip(self.members, initial, logs):
            try:
                member.rollback(state, log)
            except GaunetError as refusal:
                refusals.append(refusal)
        if refusals:
            raise refusals[0]
        self.stepper = StackedStepper(self.members)
        self._note_members()

    def _sample_grids(self) -> None:
        """Every member's sample grid at this step (after write_back)."""
        self.stepper.write_back()
        for member in self.members:
            member.sample_grid()

    def _save_run(self, finished: bool, status: str | None = None) -> bool:
        """Every member's checkpoint and run.json at this step (after write_back)."""
        self.stepper.write_back()
        saved = [member.save() for member in self.members]
        for member, ok in zip(self.members, saved):
            if ok:  # a refused save (non-finite): run.json keeps naming its last.pt's step
                member.write_run_json(finished=finished, status=status)
        return all(saved)

    def _interrupted_message(self, saved: bool) -> str:
        where = f"checkpoints saved at step {self.step}" if saved else "not every checkpoint saved"
        if self.resume_hint:
            return f"{where} in {len(self.members)} run folders; continue with: {self.resume_hint}"
        budget = " --minutes M (or --steps N)" if self.cfg.steps <= 0 else ""  # no step limit
        return (
            f"{where} in {len(self.members)} run folders; rerun the same command "
            f"to continue them together, or `gaunet train --out RUN --resume{budget}` for one"
        )

    def _checkpoint_due(self, saved_at: float) -> bool:
        return self.members[0]._checkpoint_due(saved_at)

    def _stop_reason(self, deadline: float) -> str | None:
        """A member's (its step follows the stack's: train_step): the budget is shared."""
        return self.members[0]._stop_reason(deadline)

    def _status(self, reason: str | None) -> str:
        return self.members[0]._status(reason)

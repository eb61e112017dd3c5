"""The training loop, written once for a single run (Trainer, loop.py) and for runs stacked into
one (StackedTrainer, stacked_loop.py): the budget, log windows, progress bar, rollbacks on a
non-finite window, the sample grid and checkpoint cadence, Ctrl-C and the end of a run. What
differs between the two (how a window is logged, what a rollback, a sample or a save writes, and
into how many run folders) is left to the hooks below.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING, Any

import torch

from gaunet.config import TrainConfig
from gaunet.interrupts import deferred_interrupts, noted_interrupts, stopped_by
from gaunet.progress import progress as progress_bar
from gaunet.training.run_folder import MetricsLog, remove_stale_temporaries
from gaunet.training.window import LogWindow

if TYPE_CHECKING:
    from tqdm.auto import tqdm


STOPPING = "stopping after this step (Ctrl-C again stops at once, without saving it)"


class RunLoop:
    """`run()` trains until the step target or the --minutes budget, or Ctrl-C. A subclass has
    `cfg`, `show_progress`, `step`, `first_step_seconds`, `warming_up` and `train_step` (a
    Trainer's are its Stepper's), and the hooks that raise NotImplementedError here."""

    cfg: TrainConfig
    show_progress: bool
    step: int
    first_step_seconds: float | None

    def run(self) -> None:
        """Train until the step target or the --minutes budget; Ctrl-C saves and re-raises."""
        cfg = self.cfg
        started = time.perf_counter()
        deadline = started + cfg.minutes * 60 if cfg.minutes > 0 else math.inf
        initial, logs = self._begin(started)
        for log in logs:
            log.truncate_after(self.step)  # a resume re-runs the steps after its checkpoint
            remove_stale_temporaries(log.path.parent)  # of a process killed mid-write
        bar = progress_bar(
            total=cfg.steps or None,
            initial=self.step,
            desc=self._bar_description(warming_up=False),
            unit="step",
            disable=not self.show_progress,
        )
        window = LogWindow()
        saved_at = started  # the clock of checkpoint_minutes
        reason = self._stop_reason(deadline)
        if self.warming_up:
            bar.set_description(self._bar_description(warming_up=True))
        mid_step = False
        with noted_interrupts() as stop_noted:  # torchrun's Ctrl-C: see _stop_agreed
            try:
                while reason is None:
                    warming_up = self.warming_up
                    mid_step = True  # a stop in here leaves the step half done: never saved
                    # a stop after a whole step is held until its log line and sample grid are
                    # written (they were lost: the save was of this step, the resume after it)
                    stop: KeyboardInterrupt | None = None
                    try:
                        with deferred_interrupts(STOPPING):  # a Ctrl-C now stops after the step
                            self.train_step(window.totals)
                            mid_step = False
                    except KeyboardInterrupt as deferred:
                        if mid_step:
                            raise
                        stop = deferred
                    if self._stop_agreed(stop_noted()):  # torchrun: every rank at this step
                        stop = KeyboardInterrupt()
                    window.steps += 1
                    bar.update(1)
                    if self.first_step_seconds is None:
                        self.first_step_seconds = time.perf_counter() - started
                    if warming_up and not self.warming_up:
                        bar.set_description(self._bar_description(warming_up=False))
                        self._warm_up_ended()
                    reason = self._stop_reason(deadline)
                    due = self._checkpoint_due(saved_at)
                    if not self._check_and_log(window, reason, due, logs, bar, deadline):
                        # never checkpoint or finish on such a window; a Ctrl-C during the
                        # rollback waits for its end, or it saved a half-restored state
                        mid_step = True
                        with deferred_interrupts(STOPPING):
                            self._diverged(initial, logs)
                            mid_step = False
                        window.clear()
                        bar.update(self.step - bar.n)  # back: tqdm then redraws from here
                        reason = self._stop_reason(deadline)
                        if stop is not None:  # saves the step rolled back to
                            raise stop
                        continue
                    if cfg.sample_every and self.step % cfg.sample_every == 0:
                        self._sample_grids()
                    if stop is not None:  # saved by the handler below, at this step
                        raise stop
                    if due and reason is None:  # else the end's save below writes this step
                        self._save_run(finished=False)
                        saved_at = time.perf_counter()
                self._sample_grids()
                self._save_run(finished=True, status=self._status(reason))
            except KeyboardInterrupt as stop:
                bar.close()
                self._interrupted(logs, stopped_by(stop), save=not mid_step)
                raise
            finally:  # also on a give-up's GaunetError: the TensorBoard file is closed
                bar.close()
                for log in logs:
                    log.close()

    def _check_and_log(
        self,
        window: LogWindow,
        reason: str | None,
        due: bool,
        logs: list[MetricsLog],
        bar: tqdm,
        deadline: float,
    ) -> bool:
        """False when the window's losses went non-finite: checked before a checkpoint or the
        end, and at each log line. The last step is always logged: a run shorter than log_every
        still has metrics. `due`: this step writes checkpoints."""
        if (due or reason) and not self._window_finite(window.totals):
            return False
        if self.step % self.cfg.log_every and not reason:
            return True
        return self._log_window(window, logs, bar, deadline)

    def _interrupted(self, logs: list[MetricsLog], how: str, save: bool = True) -> None:
        """Ctrl-C or SIGTERM (`how` names which): save what there is and say how to continue.
        `save` False: stopped inside a step (a second Ctrl-C), whose half-done state is not
        saved; the last checkpoint stays what a resume continues from."""
        saved = self._save_run(finished=False, status="interrupted") if save else False
        for log in logs:
            log.close()
        message = self._interrupted_message(saved)
        if not save:
            message = "stopped inside a step, which is not saved; " + message
        dist = getattr(self, "dist", None)  # torchrun: rank 0 saved, rank 0 says so
        if dist is None or dist.is_main:
            print(f"{how}: {message}", file=sys.stderr)

    # ----- hooks -------------------------------------------------------------------------------
    @property
    def warming_up(self) -> bool:
        """True while graph mode still runs its eager warm-up iterations."""
        raise NotImplementedError

    def train_step(self, totals: dict[str, torch.Tensor]) -> None:
        """One iteration: `step` advances by one and `totals` gains its stats."""
        raise NotImplementedError

    def _begin(self, started: float) -> tuple[Any, list[MetricsLog]]:
        """Start the clock at `started`; return the state a rollback falls back to when there is
        no checkpoint yet, and the metrics logs this process writes."""
        raise NotImplementedError

    def _bar_description(self, warming_up: bool) -> str:
        """The progress bar's label, which says when the first steps are a warm-up."""
        raise NotImplementedError

    def _warm_up_ended(self) -> None:
        """The graphs are captured (or given up on): say so."""
        raise NotImplementedError

    def _stop_reason(self, deadline: float) -> str | None:
        """ "steps", "time" or None (go on)."""
        raise NotImplementedError

    def _status(self, reason: str | None) -> str:
        """run.json's status of a run that ended by itself."""
        raise NotImplementedError

    def _stop_agreed(self, noted: bool) -> bool:
        """Whether to stop after this step because a process noted a Ctrl-C (noted_interrupts:
        under torchrun, where the ranks decide it together, at the same step). A single process
        notes none: its Ctrl-C raises after the step (deferred_interrupts)."""
        return noted

    def _checkpoint_due(self, saved_at: float) -> bool:
        """Whether this step writes checkpoints (the window is checked first): on the step
        cadence, or checkpoint_minutes after `saved_at` (perf_counter of the last save or the
        start). Called once per step (a collective under torchrun)."""
        raise NotImplementedError

    def _window_finite(self, totals: dict[str, torch.Tensor]) -> bool:
        """Whether every loss summed in `totals` is finite (one host sync)."""
        raise NotImplementedError

    def _log_window(
        self, window: LogWindow, logs: list[MetricsLog], bar: tqdm, deadline: float
    ) -> bool:
        """Close the window into metrics records and the bar's fields; False when non-finite."""
        raise NotImplementedError

    def _diverged(self, initial: Any, logs: list[MetricsLog]) -> None:
        """A non-finite window: roll back to the last good checkpoint (or `initial`)."""
        raise NotImplementedError

    def _sample_grids(self) -> None:
        """The sample grid(s) of this step."""
        raise NotImplementedError

    def _save_run(self, finished: bool, status: str | None = None) -> bool:
        """Checkpoints and run.json at this step; False when a checkpoint was not written."""
        raise NotImplementedError

    def _interrupted_message(self, saved: bool) -> str:
        """What the stop saved, and how to continue (after "interrupted: " or "terminated
        (SIGTERM): ")."""
        raise NotImplementedError

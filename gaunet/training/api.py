"""`train()`: the public entry point of training. It resolves the config, checks everything that
can refuse, reads the data, then locks and writes the run folder (split, training images,
config), joins a torchrun job when there is one, and hands a `Trainer` (loop.py) the rows to
train on."""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaunet.config import ConfigError, TrainConfig, load_config, save_config
from gaunet.config_checks import baseline_loss_problems
from gaunet.data import ImageSet, assign_split, load_source, print_skip_summary, write_split
from gaunet.data.prepare import resize_stack
from gaunet.device import resolve_device
from gaunet.errors import GaunetError, os_error
from gaunet.locking import check_can_create, folder_lock
from gaunet.training import distributed, resume_checks
from gaunet.training.checkpoint import holds_checkpoints, load_checkpoint
from gaunet.training.distributed import Distributed
from gaunet.training.loop import Trainer
from gaunet.training.memory import check_memory, check_resources, image_count
from gaunet.training.run_folder import (
    TRAIN_IMAGES,
    check_no_foreign_files,
    check_out_apart,
    previous_step_target,
    read_train_images,
    save_train_images,
)
from gaunet.training.step import compile_failure_said, cudnn_setting_kept
from gaunet.training.warm_start import check_source


@dataclass
class _Plan:
    """What train()'s checks settled, for its writes: the config, the step target and the rows
    to train on; for a new run every row of the source with its split (split.csv), for a
    resume the checkpoint it continues (and its sha256); the Trainer once built."""

    cfg: TrainConfig
    target: int | None
    rows: ImageSet | None = None
    split: ImageSet | None = None
    state: dict[str, Any] | None = None
    sha256: str = ""
    trainer: Trainer | None = None


def train(
    data: ImageSet | str | Path | None,
    out: str | Path,
    config: str | Path | TrainConfig = "cpu-tiny",
    overrides: dict[str, Any] | None = None,
    steps: int | None = None,
    minutes: float | None = None,
    resume: bool = False,
    seed: int | None = None,
    progress: bool = True,
    resume_hint: str = "",
) -> Path:
    """Train `config.model` on the train split of `data` (a SOURCE or an ImageSet) into the run
    folder `out`, which is returned. `steps` is the run's total; `minutes` a wall-clock budget
    for this call (steps then unlimited unless also given). `resume` continues the run in `out`
    from its last good checkpoint with its saved config and training images (`data` may be
    None). `seed` None keeps the config's seed. `resume_hint`: what an interrupted run tells
    the user to run to continue ("" = `gaunet train --out OUT --resume`; a caller that
    resumes the run itself, as `gaunet benchmark` does, names its own command).

    A refused call (any GaunetError raised before training starts) leaves `out` as it was: not
    created when it did not exist. A file system error (disk full, no permission, --out a file)
    raises GaunetError naming the path; checkpoints are atomic, so the last good one is kept."""
    launched = time.perf_counter()
    out = Path(out)
    overrides = _with_budget(overrides, steps, minutes)
    if seed is not None:
        overrides["seed"] = seed
    dist = distributed.setup(str(overrides.get("device") or "auto"))
    try:
        with compile_failure_said(), cudnn_setting_kept():
            _train(data, out, config, overrides, resume, progress, dist, launched, resume_hint)
    except OSError as error:
        raise GaunetError(os_error(error, out)) from error
    finally:
        dist.teardown()
    return out


def train_together(
    data: list[ImageSet | str | Path | None],
    outs: list[str | Path],
    config: str | Path | TrainConfig = "cpu-tiny",
    overrides: dict[str, Any] | None = None,
    steps: int | None = None,
    minutes: float | None = None,
    seeds: list[int] | None = None,
    progress: bool = True,
    resume_hint: str = "",
) -> list[Path]:
    """Train one run per (data[k], outs[k]) at once, stacked (training/stacked.py): the same
    config, each run with its own data and seed (`seeds[k]`, default the config's seed + k).
    Each folder ends as `train()` leaves one, and `gaunet train --resume` continues it alone.
    A folder that already holds checkpoints is resumed (its `data` may be None); all runs must
    then be at the same step. `steps`/`minutes` are the budget of the whole stack. One process
    only (no torchrun). Refused calls leave every folder as it was. `resume_hint` as train()'s."""
    launched = time.perf_counter()
    outs = [Path(out) for out in outs]
    if len(data) != len(outs) or not outs:
        raise GaunetError("train_together needs one data source per run folder, and 1+ runs")
    if len({out.resolve() for out in outs}) != len(outs):
        raise GaunetError("train_together: the run folders must differ")
    if seeds is not None and len(seeds) != len(outs):
        raise GaunetError("train_together: give one seed per run folder")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise GaunetError("runs trained together use one process: run without torchrun")
    overrides = _with_budget(overrides, steps, minutes)
    try:
        with cudnn_setting_kept():
            _train_together(data, outs, config, overrides, seeds, progress, launched, resume_hint)
    except OSError as error:
        raise GaunetError(os_error(error, outs[0])) from error
    return outs


def _train_together(
    data: list[ImageSet | str | Path | None],
    outs: list[Path],
    config: str | Path | TrainConfig,
    overrides: dict[str, Any],
    seeds: list[int] | None,
    progress: bool,
    launched: float,
    resume_hint: str = "",
) -> None:
    """train_together(): every run checked as _train() checks one (new runs before the locks,
    resumes under them), the memory of the whole stack, the stack itself (built before any
    write, so runs that cannot train together leave their folders as they were), then the
    writes and the loop. `seeds`: the caller's (a resume must keep its own); None: the
    config's seed + k for new runs."""
    from gaunet.training.stacked_loop import StackedTrainer

    dist = Distributed()
    base_seed = int(load_config(config, overrides).seed)
    resumes = [_has_checkpoint(out) for out in outs]
    plans: list[_Plan | None] = []
    for k, out in enumerate(outs):
        if resumes[k]:
            _check_resumable(out)
            plans.append(None)
        else:
            seed = seeds[k] if seeds is not None else base_seed + k
            plans.append(_check_new_run(data[k], out, config, {**overrides, "seed": seed}, dist))
    with ExitStack() as locks:
        for out in sorted(outs, key=lambda o: str(o.resolve())):  # one order: no deadlock
            locks.enter_context(folder_lock(out, "train"))  # refused: no empty folder left
        for k, out in enumerate(outs):
            if resumes[k]:
                plans[k] = plan = _check_resume(out, data[k], dict(overrides), dist)
                if seeds is not None and seeds[k] != plan.cfg.seed:
                    raise GaunetError(
                        f"{out}: a resume keeps the run's seed {plan.cfg.seed}, not {seeds[k]}"
                    )
            else:
                _check_no_run(out)
        images = sum(len(plan.rows) for plan in plans)
        check_memory(plans[0].cfg, resolve_device(plans[0].cfg.device), images, len(plans))
        trainers = [_trainer(out, plan, False, dist, launched) for out, plan in zip(outs, plans)]
        stack = StackedTrainer(trainers, show_progress=progress)  # refuses what cannot stack
        stack.resume_hint = resume_hint
        for out, plan, resumed in zip(outs, plans, resumes):
            if not resumed:
                _write_new_run(out, plan, dist)
            save_config(plan.cfg, out / "config.yaml")
        stack.run()


def _with_budget(
    overrides: dict[str, Any] | None, steps: int | None, minutes: float | None
) -> dict[str, Any]:
    """A copy of `overrides` with the call's budget: `steps` is the run's total; `minutes`
    alone trains without a step limit (the preset's steps do not apply), unless `steps` is
    among the overrides (`--minutes 30 --set steps=2000`: whichever ends first; the steps were
    dropped)."""
    overrides = dict(overrides or {})
    if steps is not None:
        overrides["steps"] = steps
    elif minutes is not None and "steps" not in overrides:
        overrides["steps"] = 0
    if minutes is not None:
        overrides["minutes"] = minutes
    return overrides


def _has_checkpoint(out: Path) -> bool:
    checkpoints = out / "checkpoints"
    return checkpoints.is_dir() and any(checkpoints.glob("*.pt"))


def _train(
    data: ImageSet | str | Path | None,
    out: Path,
    config: str | Path | TrainConfig,
    overrides: dict[str, Any],
    resume: bool,
    progress: bool,
    dist: Distributed,
    launched: float,
    resume_hint: str = "",
) -> None:
    """train() in one process of the job: checks, then the lock, then writes.

    What needs nothing from --out is checked before the lock: the config, budget, memory,
    init_from, the data (read, split, fingerprinted) and, in one process, the networks with
    their init_from weights. A run refused there never creates --out, so the lock need not
    remove a folder it made. What reads the run folder (a resume's config.yaml, checkpoint and
    training images; whether a new run's --out already holds a run) is checked under the lock:
    before it, a second process could write there between the check and the lock. Those have a
    cheap pre-check before the lock too (a resume of a folder without a run is refused without
    creating it), which the one under the lock repeats. Rank 0 alone writes the run folder, so
    rank 0 alone locks it."""
    plan = None
    if resume:
        _check_resumable(out)
    else:
        plan = _check_new_run(data, out, config, overrides, dist)
        if not dist.enabled:  # (a job builds its networks together, after rank 0's writes)
            plan.trainer = _trainer(out, plan, progress, dist, launched)
    with folder_lock(out, "train", remove_if_unused=False) if dist.is_main else nullcontext():
        if resume:
            plan = _check_resume(out, data, overrides, dist)
            if plan.state is not None and resume_checks.already_completed(
                out, plan.cfg.steps, int(plan.state["step"]), plan.sha256
            ):
                if dist.is_main:
                    step = int(plan.state["step"])
                    print(
                        f"{out}: already completed (step {step} of {plan.cfg.steps}); nothing to "
                        f"train, nothing rewritten (give --steps {step + 1} or more to train on)",
                        file=sys.stderr,
                    )
                return
            plan.trainer = _trainer(out, plan, progress, dist, launched)
        else:
            if dist.is_main:
                _check_no_run(out)
            _write_new_run(out, plan, dist)
        if dist.is_main:
            save_config(plan.cfg, out / "config.yaml")
        if plan.trainer is None:
            plan.trainer = _trainer(out, plan, progress, dist, launched)
        plan.trainer.resume_hint = resume_hint or _resume_command(out, plan.cfg)
        plan.trainer.run()


def _resume_command(out: Path, cfg: TrainConfig) -> str:
    """How an interrupted run continues ("" = the trainer's `gaunet train --out OUT --resume`).
    A --minutes run has no step limit (its config.yaml says steps: 0) and a resume's budget is
    its own, so a plain --resume is refused ("no budget"): say to give one."""
    if cfg.steps > 0:
        return ""
    return f"gaunet train --out {out} --resume --minutes {cfg.minutes:g} (or --steps N)"


def _check_resumable(out: Path) -> None:
    if not (out / "config.yaml").exists() or not (out / TRAIN_IMAGES).exists():
        raise GaunetError(f"{out}: not a run folder to resume (no config.yaml/{TRAIN_IMAGES})")


def _check_no_run(out: Path, foreign: bool = True) -> None:
    if holds_checkpoints(out / "checkpoints"):
        raise GaunetError(f"{out}: already holds a run; use --resume or another --out")
    if foreign:
        check_no_foreign_files(out)


def _check_resume(
    out: Path, data: ImageSet | str | Path | None, overrides: dict[str, Any], dist: Distributed
) -> _Plan:
    """Everything a resume checks (resume_checks.py), reading the run folder: under its lock."""
    _check_resumable(out)
    if "minutes" not in overrides:
        overrides["minutes"] = 0.0
    saved = load_config(out / "config.yaml")
    cfg = load_config(out / "config.yaml", overrides)
    resume_checks.check_settings(out, saved, cfg)
    plan = _Plan(cfg, cfg.steps if cfg.steps > 0 else previous_step_target(out))
    if _has_checkpoint(out):
        plan.state, loaded, plan.sha256 = load_checkpoint(out / "checkpoints", "cpu")
        resume_checks.check_checkpoint(out, loaded, plan.state, saved)
        resume_checks.check_step_target(out, cfg.steps, int(plan.state["step"]))
    plan.rows = read_train_images(out / TRAIN_IMAGES)
    resume_checks.check_data(out, data, cfg.data, plan.rows.info)
    _check_budget(cfg)
    check_resources(cfg, dist, len(plan.rows))
    return plan


def _check_new_run(
    data: ImageSet | str | Path | None,
    out: Path,
    config: str | Path | TrainConfig,
    overrides: dict[str, Any],
    dist: Distributed,
) -> _Plan:
    """Every check of a new run and, on rank 0, the read of its data: nothing written yet."""
    _check_no_run(out, foreign=False)  # (before the data is read; again under the lock)
    if data is None:
        raise GaunetError("no data given (a SOURCE or an ImageSet)")
    check_out_apart(data, out, config)  # (its `--config OUT/config.yaml` message first)
    check_no_foreign_files(out)
    cfg = load_config(config, overrides)
    if problems := baseline_loss_problems(cfg):  # new runs only: an older run still resumes
        raise ConfigError("; ".join(problems))
    _check_budget(cfg)
    check_source(cfg.init_from)  # before the data is read
    if cfg.init_from:  # recorded absolute: a resume from another folder still finds it
        cfg.init_from = str(Path(cfg.init_from).expanduser().resolve())
    check_resources(cfg, dist, image_count(data))
    # a --minutes run trains without a step limit, but its config still names a target
    target = cfg.steps or load_config(config, {**overrides, "steps": None}).steps or None
    plan = _Plan(cfg, target)
    if dist.is_main:
        check_can_create(out)  # before the data is read: a bad --out fails at once
        plan.split, plan.rows = _read_data(data, cfg)
    return plan


def _read_data(data: ImageSet | str | Path, cfg: TrainConfig) -> tuple[ImageSet, ImageSet]:
    """(every row of `data` at the config's size and channels with its split, the train rows
    with the record of their source); refused when fewer than 2 rows are left to train on."""
    source = data
    if isinstance(data, ImageSet):
        if data.size != cfg.size or data.channels != cfg.channels:
            images = resize_stack(data.images.transpose(0, 2, 3, 1), cfg.size, cfg.channels)
            data = ImageSet(
                images, data.labels, data.class_names, data.groups, data.ids, data.split,
                source=data.source,
            )  # fmt: skip
        cfg.data = cfg.data or data.source
    else:
        cfg.data = str(data)
        data = load_source(data, size=cfg.size, channels=cfg.channels)
    data = assign_split(data, seed=cfg.seed)
    rows = data.where_split("train")
    if len(rows) < 2:
        print_skip_summary(data)  # (listed on stderr alone: a refused run writes no file)
        raise GaunetError(f"{cfg.data}: the train split has {len(rows)} image(s); need 2+")
    rows.info = {**rows.info, **resume_checks.source_record(source)}
    return data, rows


def _write_new_run(out: Path, plan: _Plan, dist: Distributed) -> None:
    """A new run's split.csv and training images (rank 0); the other ranks read the latter."""
    if dist.is_main:
        print_skip_summary(plan.split, out)  # skipped files are never silent
        write_split(out / "split.csv", plan.split)
        save_train_images(out / TRAIN_IMAGES, plan.rows)
    dist.barrier()
    if not dist.is_main:
        plan.rows = read_train_images(out / TRAIN_IMAGES)


def _trainer(out: Path, plan: _Plan, progress: bool, dist: Distributed, launched: float) -> Trainer:
    """The networks and the weights they start from (the checkpoint resumed, or init_from).
    Built before the first write where the job allows it, so an init_from or a checkpoint that
    does not fit is refused with --out as it was."""
    trainer = Trainer(out, plan.cfg, plan.rows, show_progress=progress, dist=dist)
    trainer.steps_target, trainer.launched = plan.target, launched
    if plan.state is not None:
        trainer.checkpoint_sha256 = plan.sha256
        trainer.load_state(plan.state)
        trainer.resumed_from = trainer.step
    elif plan.cfg.init_from:  # a new run, or a resume of one killed before its first checkpoint
        trainer.start_from(plan.cfg.init_from)
    return trainer


def _check_budget(cfg: TrainConfig) -> None:
    """Before anything is written: a run without a budget would write its split and training
    images and then refuse (issue 30: `--steps -5`, `--minutes 0` left them behind)."""
    if cfg.steps <= 0 and cfg.minutes <= 0:
        raise GaunetError(
            "no budget: steps and minutes are both 0; give --steps N (N >= 1) or --minutes M "
            "(M > 0)"
        )

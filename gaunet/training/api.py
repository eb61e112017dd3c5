"""`train()`: the public entry point of training. It resolves the config, prepares or reopens
the run folder (split, training images, config), joins a torchrun job when there is one, and
hands a `Trainer` (loop.py) the rows to train on."""

from __future__ import annotations

import json
import os
import time
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from gaunet.config import TrainConfig, load_config, save_config
from gaunet.data import ImageSet
from gaunet.device import resolve_device
from gaunet.errors import GaunetError, GaunetWarning, os_error, shorten, writable_folder
from gaunet.locking import folder_lock
from gaunet.training import distributed, resume_checks
from gaunet.training.checkpoint import load_checkpoint
from gaunet.training.distributed import Distributed
from gaunet.training.loop import Trainer
from gaunet.training.memory import check_memory, image_count
from gaunet.training.run_folder import (
    TRAIN_IMAGES,
    load_train_images,
    save_train_images,
    training_rows,
)
from gaunet.training.warm_start import check_source


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
) -> Path:
    """Train `config.model` on the train split of `data` (a SOURCE or an ImageSet) into the run
    folder `out`, which is returned. `steps` is the run's total; `minutes` a wall-clock budget
    for this call (steps then unlimited unless also given). `resume` continues the run in `out`
    from its last good checkpoint with its saved config and training images (`data` may be
    None). `seed` None keeps the config's seed.

    A file system error (disk full, no permission, --out a file) raises GaunetError naming the
    path; checkpoints are atomic, so the last good one is kept."""
    launched = time.perf_counter()
    out = Path(out)
    overrides = dict(overrides or {})
    if seed is not None:
        overrides["seed"] = seed
    if steps is not None:
        overrides["steps"] = steps
    elif minutes is not None:
        overrides["steps"] = 0
    if minutes is not None:
        overrides["minutes"] = minutes
    dist = distributed.setup(str(overrides.get("device") or "auto"))
    try:
        # one writer per run folder; rank 0 alone writes it, so rank 0 alone locks it
        with folder_lock(out, "train") if dist.is_main else nullcontext():
            _train(data, out, config, overrides, resume, progress, dist, launched)
    except OSError as error:
        raise GaunetError(os_error(error, out)) from error
    finally:
        dist.teardown()
    return out


def _train(
    data: ImageSet | str | Path | None,
    out: Path,
    config: str | Path | TrainConfig,
    overrides: dict[str, Any],
    resume: bool,
    progress: bool,
    dist: Distributed,
    launched: float,
) -> None:
    """train() in one process of the job; rank 0 alone writes the run folder. Everything that
    can refuse (budget, ranges, memory, what a resume continues) is checked before the first
    write, so a refused call leaves --out as it was."""
    checkpoints = out / "checkpoints"
    state: dict[str, Any] | None = None  # the checkpoint a resume continues
    sha256 = ""
    if resume:
        if not (out / "config.yaml").exists() or not (out / TRAIN_IMAGES).exists():
            raise GaunetError(f"{out}: not a run folder to resume (no config.yaml/{TRAIN_IMAGES})")
        if "minutes" not in overrides:
            overrides["minutes"] = 0.0
        saved = load_config(out / "config.yaml")
        cfg = load_config(out / "config.yaml", overrides)
        resume_checks.check_settings(out, saved, cfg)
        if checkpoints.exists() and any(checkpoints.glob("*.pt")):
            state, loaded, sha256 = load_checkpoint(checkpoints, "cpu")
            resume_checks.check_checkpoint(out, loaded, state, saved)
        rows = read_train_images(out / TRAIN_IMAGES)
        resume_checks.check_data(out, data, cfg.data, rows.info)
        target = cfg.steps if cfg.steps > 0 else _previous_target(out)
        _check_budget(cfg)
        _check_resources(cfg, dist, len(rows))
    else:
        if checkpoints.exists() and any(checkpoints.iterdir()):
            raise GaunetError(f"{out}: already holds a run; use --resume or another --out")
        if data is None:
            raise GaunetError("no data given (a SOURCE or an ImageSet)")
        cfg = load_config(config, overrides)
        _check_budget(cfg)
        check_source(cfg.init_from)  # before the data is read
        _check_resources(cfg, dist, image_count(data))
        # a --minutes run trains without a step limit, but its config still names a target
        target = cfg.steps or load_config(config, {**overrides, "steps": None}).steps or None
        if dist.is_main:
            writable_folder(out)  # before the data is read: a bad --out fails at once
            rows = training_rows(data, out, cfg)
            rows.info = {**rows.info, **resume_checks.source_record(data)}
            save_train_images(out / TRAIN_IMAGES, rows)
        dist.barrier()
        if not dist.is_main:
            rows = read_train_images(out / TRAIN_IMAGES)
    if dist.is_main:
        save_config(cfg, out / "config.yaml")
    trainer = Trainer(out, cfg, rows, show_progress=progress, dist=dist)
    trainer.steps_target, trainer.launched = target, launched
    if state is not None:
        trainer.checkpoint_sha256 = sha256
        trainer.load_state(state)
        trainer.resumed_from = trainer.step
    elif cfg.init_from:  # a new run, or a resume of one killed before its first checkpoint
        trainer.start_from(cfg.init_from)
    trainer.run()


def _check_budget(cfg: TrainConfig) -> None:
    """Before anything is written: a run without a budget would write its split and training
    images and then refuse (issue 30: `--steps -5`, `--minutes 0` left them behind)."""
    if cfg.steps <= 0 and cfg.minutes <= 0:
        raise GaunetError(
            "no budget: steps and minutes are both 0; give --steps N (N >= 1) or --minutes M "
            "(M > 0)"
        )


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under taskset or a container's
    cpuset), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _check_resources(cfg: TrainConfig, dist: Distributed, images: int) -> None:
    """Threads capped to the CPUs there are (9999 OpenMP threads on 2 cores made three steps
    of 18 s take minutes), with one warning; config.yaml then records the cap. The images and one
    training step must fit in memory (training/memory.py): else one line with both numbers."""
    cpus = usable_cpus()
    if cfg.num_threads > cpus:
        if dist.is_main:
            warnings.warn(
                f"num_threads {cfg.num_threads} is more than the {cpus} CPU(s) this process may "
                f"use; using {cpus}",
                GaunetWarning,
                stacklevel=3,
            )
        cfg.num_threads = cpus
    check_memory(cfg, dist.device(resolve_device(cfg.device)), images)


def read_train_images(path: Path) -> ImageSet:
    """A run's train_images.npz, or one GaunetError naming the file when it is damaged."""
    try:
        return load_train_images(path)
    except Exception as error:  # noqa: BLE001 - any unreadable archive is the same problem
        cause = shorten(str(error) or type(error).__name__, 120)
        raise GaunetError(
            f"{path}: cannot read the run's training images ({cause}); the file is damaged: "
            "restore it from a copy or train a new run"
        ) from None


def _previous_target(out: Path) -> int | None:
    """The step target an earlier invocation recorded in run.json (a --minutes run's config
    holds steps: 0)."""
    try:
        target = json.loads((out / "run.json").read_text()).get("steps_target")
    except (OSError, ValueError, AttributeError):
        return None
    return target if isinstance(target, int) and target > 0 else None

"""`train()`: the public entry point of training. It resolves the config, prepares or reopens
the run folder (split, training images, config), joins a torchrun job when there is one, and
hands a `Trainer` (loop.py) the rows to train on."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gaunet.config import TrainConfig, load_config, save_config
from gaunet.data import ImageSet
from gaunet.errors import GaunetError, os_error, shorten, writable_folder
from gaunet.training import distributed
from gaunet.training.checkpoint import load_checkpoint
from gaunet.training.distributed import Distributed
from gaunet.training.loop import Trainer
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
    """train() in one process of the job; rank 0 alone writes the run folder."""
    checkpoints = out / "checkpoints"
    if resume:
        if not (out / "config.yaml").exists() or not (out / TRAIN_IMAGES).exists():
            raise GaunetError(f"{out}: not a run folder to resume (no config.yaml/{TRAIN_IMAGES})")
        if "minutes" not in overrides:
            overrides["minutes"] = 0.0
        cfg = load_config(out / "config.yaml", overrides)
        rows = read_train_images(out / TRAIN_IMAGES)
        target = cfg.steps if cfg.steps > 0 else _previous_target(out)
    else:
        if checkpoints.exists() and any(checkpoints.iterdir()):
            raise GaunetError(f"{out}: already holds a run; use --resume or another --out")
        if data is None:
            raise GaunetError("no data given (a SOURCE or an ImageSet)")
        cfg = load_config(config, overrides)
        check_source(cfg.init_from)  # before the data is read
        # a --minutes run trains without a step limit, but its config still names a target
        target = cfg.steps or load_config(config, {**overrides, "steps": None}).steps or None
        if dist.is_main:
            writable_folder(out)  # before the data is read: a bad --out fails at once
            rows = training_rows(data, out, cfg)
            save_train_images(out / TRAIN_IMAGES, rows)
        dist.barrier()
        if not dist.is_main:
            rows = read_train_images(out / TRAIN_IMAGES)
    if cfg.steps <= 0 and cfg.minutes <= 0:
        raise GaunetError("no budget: give steps or minutes")
    if dist.is_main:
        save_config(cfg, out / "config.yaml")
    trainer = Trainer(out, cfg, rows, show_progress=progress, dist=dist)
    trainer.steps_target, trainer.launched = target, launched
    if resume and checkpoints.exists() and any(checkpoints.glob("*.pt")):
        state, _, trainer.checkpoint_sha256 = load_checkpoint(checkpoints, "cpu")
        trainer.load_state(state)
        trainer.resumed_from = trainer.step
    elif cfg.init_from:
        trainer.start_from(cfg.init_from)
    trainer.run()


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

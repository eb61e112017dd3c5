"""`train()`: the public entry point of training. It resolves the config, checks everything that
can refuse, reads the data, then locks and writes the run folder (split, training images,
config), joins a torchrun job when there is one, and hands a `Trainer` (loop.py) the rows to
train on."""

from __future__ import annotations

import json
import os
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaunet.config import TrainConfig, load_config, save_config
from gaunet.data import ImageSet, assign_split, load_source, print_skip_summary, write_split
from gaunet.data.prepare import resize_stack
from gaunet.device import resolve_device
from gaunet.errors import GaunetError, GaunetWarning, os_error, shorten
from gaunet.locking import check_can_create, folder_lock
from gaunet.training import distributed, resume_checks
from gaunet.training.checkpoint import load_checkpoint
from gaunet.training.distributed import Distributed
from gaunet.training.loop import Trainer
from gaunet.training.memory import check_memory, image_count
from gaunet.training.run_folder import TRAIN_IMAGES, load_train_images, save_train_images
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
) -> Path:
    """Train `config.model` on the train split of `data` (a SOURCE or an ImageSet) into the run
    folder `out`, which is returned. `steps` is the run's total; `minutes` a wall-clock budget
    for this call (steps then unlimited unless also given). `resume` continues the run in `out`
    from its last good checkpoint with its saved config and training images (`data` may be
    None). `seed` None keeps the config's seed.

    A refused call (any GaunetError raised before training starts) leaves `out` as it was: not
    created when it did not exist. A file system error (disk full, no permission, --out a file)
    raises GaunetError naming the path; checkpoints are atomic, so the last good one is kept."""
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
            plan.trainer = _trainer(out, plan, progress, dist, launched)
        else:
            if dist.is_main:
                _check_no_run(out)
            _write_new_run(out, plan, dist)
        if dist.is_main:
            save_config(plan.cfg, out / "config.yaml")
        if plan.trainer is None:
            plan.trainer = _trainer(out, plan, progress, dist, launched)
        plan.trainer.run()


def _check_resumable(out: Path) -> None:
    if not (out / "config.yaml").exists() or not (out / TRAIN_IMAGES).exists():
        raise GaunetError(f"{out}: not a run folder to resume (no config.yaml/{TRAIN_IMAGES})")


def _check_no_run(out: Path) -> None:
    checkpoints = out / "checkpoints"
    if checkpoints.exists() and any(checkpoints.iterdir()):
        raise GaunetError(f"{out}: already holds a run; use --resume or another --out")


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
    plan = _Plan(cfg, cfg.steps if cfg.steps > 0 else _previous_target(out))
    checkpoints = out / "checkpoints"
    if checkpoints.exists() and any(checkpoints.glob("*.pt")):
        plan.state, loaded, plan.sha256 = load_checkpoint(checkpoints, "cpu")
        resume_checks.check_checkpoint(out, loaded, plan.state, saved)
    plan.rows = read_train_images(out / TRAIN_IMAGES)
    resume_checks.check_data(out, data, cfg.data, plan.rows.info)
    _check_budget(cfg)
    _check_resources(cfg, dist, len(plan.rows))
    return plan


def _check_new_run(
    data: ImageSet | str | Path | None,
    out: Path,
    config: str | Path | TrainConfig,
    overrides: dict[str, Any],
    dist: Distributed,
) -> _Plan:
    """Every check of a new run and, on rank 0, the read of its data: nothing written yet."""
    _check_no_run(out)  # (before the data is read; again under the lock)
    if data is None:
        raise GaunetError("no data given (a SOURCE or an ImageSet)")
    cfg = load_config(config, overrides)
    _check_budget(cfg)
    check_source(cfg.init_from)  # before the data is read
    _check_resources(cfg, dist, image_count(data))
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

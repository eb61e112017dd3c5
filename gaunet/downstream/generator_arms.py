"""The generator arms of a benchmark folder: train (or reuse) a generator on exactly one
fraction subset, cache it, and sample its synthetic images.

`gaunet`, `gan` and `cgan` train that generator on exactly the fraction subset (never on
validation or test images), cache it under DIR/generators/<arm>-f<fraction>-s<subset seed>/,
and add `ratio x n_c` synthetic images per class. An arm given as an existing run folder is
used as-is, but only where its split.csv train rows equal the fraction subset, and a synthetic
set's manifest must name only training-subset images as sources (provenance.py).

With `filter_pool` K > 1, K x the wanted number of images per class are generated, a small
CNN trained on the fraction subset alone (never validation or test images) scores them, and
the ones it assigns to their own class with the highest probability are kept.

With `select_snapshot` "fd-val", the images come from the run's periodic checkpoint closest to
the validation images (snapshots.py) instead of its last one; DIR/generators/<key>-selection.json
records every snapshot's score. Parsing the arm names is arms.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gaunet.data import ImageSet
from gaunet.downstream import snapshots
from gaunet.downstream.arms import Arm, per_class_targets, snapshot_overrides_for
from gaunet.downstream.filter_choices import filtered_images, typical_rows
from gaunet.downstream.provenance import (
    check_provenance,
    check_run_matches,
    load_synthetic,
    made_by_checkpoint,
)
from gaunet.errors import GaunetError
from gaunet.io import json_object_or_empty, write_json
from gaunet.progress import progress
from gaunet.training.checkpoint import holds_checkpoints

# what an interrupted generator tells the user: the benchmark resumes it (and skips done cells)
RESUME_HINT = "rerun the same gaunet benchmark command"


def _counts(wanted: np.ndarray) -> list[int]:
    """Per-class image counts for generate_dataset: each class its own (see `_make`)."""
    return [int(n) for n in wanted]


def recorded_run(record: Path) -> Path:
    """The run folder beside the record (generators/<tag>/, where the benchmark trained it),
    else the one it names: a folder moved, or copied while the original stays, reads its own
    run, never the original's (which may be retrained in place, or another folder's run at a
    relative path read from another working directory)."""
    run = Path(json.loads(record.read_text())["run"])
    beside = record.with_suffix("")
    if beside.is_dir():
        return beside
    if run.is_dir():
        return run
    raise GaunetError(
        f"{record}: the generator run it records is gone (neither {run} nor {beside} exists); "
        "restore that folder, or delete the record to train the generator again"
    )


def _default_train(*args: object, **kwargs: object) -> Path:
    from gaunet.training import train

    return Path(train(*args, **kwargs))


def _default_generate(*args: object, **kwargs: object) -> Path:
    from gaunet.generate import generate_dataset

    return Path(generate_dataset(*args, **kwargs))


def _default_extractor(subset: ImageSet, device: str = "cpu") -> Any:
    """The domain CNN trained on `subset` (the fraction's real training images) and nothing
    else, on `device`: called on images it gives features, `predict_proba` class
    probabilities."""
    from gaunet.metrics.features.domain import DomainExtractor

    return DomainExtractor.for_training_set(subset, device=device)


def _default_scorer(subset: ImageSet, device: str = "cpu") -> Callable[[np.ndarray], np.ndarray]:
    """Class probabilities from the domain CNN trained on `subset` alone."""
    return _default_extractor(subset, device).predict_proba


@dataclass
class TrainingJob:
    """A generator arm's training run as GeneratorArms starts it: `data` None resumes the
    interrupted run in `folder`; `done(run)` records it, so the folder's later runs reuse it."""

    data: ImageSet | None
    folder: Path
    resume: bool
    overrides: dict[str, Any]
    seed: int
    record: Path
    arm: str
    fraction: float
    minutes: float | None = None  # what is left of --gen-minutes (a resume spent some)

    def done(self, run: Path) -> None:
        payload = {"run": str(run), "arm": self.arm, "fraction": self.fraction}
        write_json(self.record, payload)  # atomic: a torn record would fail the next resume


def minutes_left(budget: float | None, run_json: Path) -> float | None:
    """What is left of a --gen-minutes `budget` for a run resumed after `run_json`'s
    wall_seconds (a resume gets the rest, not a whole new budget); None without a budget."""
    if not budget:
        return budget
    try:
        spent = float(json.loads(run_json.read_text()).get("wall_seconds") or 0.0)
    except (OSError, ValueError):
        spent = 0.0
    return max(budget - spent / 60.0, 0.05)


@dataclass
class GeneratorArms:
    """Trains, caches and samples the generator arms of one benchmark folder.

    `train_fn` / `generate_fn` follow gaunet.training.train and gaunet.generate.generate_dataset
    (tests pass small fakes). Each trained run is recorded in DIR/generators/<key>.json so a
    rerun reuses it instead of training again.
    """

    out: Path
    ratio: float = 1.0
    subset_seed: int = 0
    gen_config: str = "cpu-tiny"
    gen_steps: int | None = None
    gen_minutes: float | None = None
    # the gaunet arms' generators start from this run's weights (init_from); "" = random
    gen_init_from: str = ""
    filter_pool: int = 1
    # "last", "fd-val" or "cas-val" (snapshots.py); the last two need `validation`, the real
    # validation split
    select_snapshot: str = "last"
    validation: ImageSet | None = None
    # every noise vector multiplied by this when generating (1: as trained); a factor other
    # than 1 gets synthetic folders of its own
    noise_scale: float = 1.0
    # K > 1: K noise draws per wanted image (benchmark's --synthetic-draws), returned in
    # generation order, so a class's first share is draw 0, its next draw 1, ...
    draws: int = 1
    # where generators train and generate and the domain CNN runs (the benchmark's --device);
    # "auto" leaves the generator config's own device setting in force
    device: str = "auto"
    train_fn: Callable[..., Path] = _default_train
    generate_fn: Callable[..., Path] = _default_generate
    scorer_fn: Callable[[ImageSet], Callable[[np.ndarray], np.ndarray]] = _default_scorer
    extractor_fn: Callable[[ImageSet], Any] = _default_extractor
    cache: dict = field(default_factory=dict)

    def extra_images(
        self, arm: Arm, fraction: float, subset: ImageSet
    ) -> tuple[np.ndarray, np.ndarray, Path]:
        """(images, labels, manifest) added to `subset` (all-train rows) by a generator arm."""
        key = (*self._folder_key(), arm.model, fraction)
        if key not in self.cache:
            self.cache[key] = self._make(arm, fraction, subset)
        return self.cache[key]

    def typical_copies(self, fraction: float, subset: ImageSet) -> tuple[np.ndarray, np.ndarray]:
        """The `typical-copies` control: what `filter_pool` K keeps from K copies of each real
        image of `subset` (K draws of a generator that ignores its noise), or, where a class
        wants more images than that (--synthetic-ratio above K), K per image wanted, drawn from
        its images in turn; scored by the same CNN; ties go to the earlier candidate.
        What it kept is recorded in synthetic/typical-copies-<fraction>-s<seed>-p<K>.json."""
        pool = max(1, int(self.filter_pool))  # the benchmark refuses 1 (plain copies)
        key = (*self._folder_key(), "typical-copies", fraction)
        if key not in self.cache:
            wanted = per_class_targets(subset.labels, subset.num_classes, self.ratio)
            name = f"typical-copies-f{fraction:g}-s{self.subset_seed}-p{pool}.json"
            record = self.out / "synthetic" / name
            kept = typical_rows(record, subset, wanted, pool, lambda: self._scorer(subset))
            self.cache[key] = (subset.images[kept], subset.labels[kept])
        return self.cache[key]

    def _folder_key(self) -> tuple:
        """What the cached images depend on besides arm and fraction: a helper reconfigured
        for another folder (run_benchmark's arms_helper) must not serve the last one's."""
        return (str(self.out), self.subset_seed, self.ratio, self.filter_pool, self.draws,
                self.select_snapshot, self.noise_scale, self.gen_config, self.gen_steps,
                self.gen_minutes, self.gen_init_from)  # fmt: skip

    def _tag(self, arm: Arm, fraction: float) -> str:
        return f"{arm.model.replace(':', '-')}-f{fraction:g}-s{self.subset_seed}"

    def training_job(self, arm: Arm, fraction: float, subset: ImageSet) -> TrainingJob | None:
        """The generator run this arm still has to train for `fraction` (None: a run folder
        given as the arm, or one already trained and recorded). `gaunet benchmark
        --subset-seeds --stack-generators` trains several folders' jobs together."""
        record = self.out / "generators" / f"{self._tag(arm, fraction)}.json"
        if arm.kind == "run" or record.is_file():
            return None
        folder = self.out / "generators" / self._tag(arm, fraction)
        started = holds_checkpoints(folder / "checkpoints")
        overrides = {
            "model": arm.model,
            "channels": subset.channels,
            # the benchmark's --size: the generator learns the images it will add
            "size": subset.size,
            "pad_input": True,
            "num_threads": torch.get_num_threads(),  # what --threads asked for
            **self._snapshot_overrides(arm),
            **self._init_overrides(arm),
            **({} if self.device == "auto" else {"device": self.device}),
        }
        return TrainingJob(
            data=None if started else subset,  # an interrupted training run is resumed
            folder=folder,
            resume=started,
            overrides=overrides,
            seed=self.subset_seed,
            record=record,
            arm=arm.model,
            fraction=fraction,
            minutes=minutes_left(self.gen_minutes, folder / "run.json") if started else None,
        )

    def _make(self, arm: Arm, fraction: float, subset: ImageSet) -> tuple:
        subset_ids = {str(i) for i in subset.ids}
        tag = self._tag(arm, fraction)
        record = self.out / "generators" / f"{tag}.json"
        if arm.kind == "run":
            check_run_matches(arm.run, subset_ids, fraction)
            run = arm.run
        elif record.is_file():
            run = recorded_run(record)
        else:
            job = self.training_job(arm, fraction, subset)
            assert job is not None  # neither a run folder nor recorded
            run = self.train_fn(
                job.data,
                job.folder,
                resume=job.resume,
                config=self.gen_config,
                overrides=job.overrides,
                steps=self.gen_steps,
                minutes=self.gen_minutes if job.minutes is None else job.minutes,
                seed=job.seed,
                resume_hint=RESUME_HINT,
            )
            job.done(run)
        wanted = per_class_targets(subset.labels, subset.num_classes, self.ratio)
        pool = max(1, int(self.filter_pool))
        name = f"{tag}-r{self.ratio:g}{f'-p{pool}' if pool > 1 else ''}"
        name += f"-z{self.noise_scale:g}" if self.noise_scale != 1.0 else ""
        draws = max(1, int(self.draws))
        drawn = f"-d{draws}" if draws > 1 else ""
        if self.select_snapshot == "last":
            folder = self.out / "synthetic" / f"{name}{drawn}"
            # each class's own count: image k of a class depends only on (seed, class, k), so
            # these are the first images a max-count generation would give (older folders,
            # generated at the largest class's count for every class, are read the same way)
            manifest = self._generated(run, folder, _counts(wanted * pool * draws), None)
        else:  # the chosen snapshot's images, as scored (filter_pool is 1: benchmark checks)
            folder, manifest, chosen = self._selected_images(run, name, subset, wanted)
            if draws > 1:  # chosen on one draw per image, as without draws; then K draws
                folder = folder.with_name(folder.name + drawn)
                manifest = self._generated(run, folder, _counts(wanted * draws), chosen)
        check_provenance(manifest, run, subset_ids)
        if pool == 1:
            images, labels = load_synthetic(manifest, wanted * draws, subset.size, subset.channels)
            return images, labels, manifest
        # the pool streamed through the scorer in its own batches (the same probabilities as
        # scoring it whole): only the kept images and one batch are held; the choice is
        # recorded in filter.json and read back when the folder continues (filter_choices.py)
        from gaunet.metrics.features.domain import DomainExtractor

        images, labels = filtered_images(
            manifest, wanted, pool, subset, lambda: self._scorer(subset),
            DomainExtractor.inference_batch,
        )  # fmt: skip
        return images, labels, manifest

    def _resolved_device(self) -> str:
        from gaunet.device import resolve_device

        return str(resolve_device(self.device))

    def _scorer(self, subset: ImageSet) -> Callable[[np.ndarray], np.ndarray]:
        """scorer_fn; the default one on this folder's device."""
        if self.scorer_fn is _default_scorer:
            return _default_scorer(subset, self._resolved_device())
        return self.scorer_fn(subset)

    def _extractor(self, subset: ImageSet) -> Any:
        """extractor_fn; the default one on this folder's device."""
        if self.extractor_fn is _default_extractor:
            return _default_extractor(subset, self._resolved_device())
        return self.extractor_fn(subset)

    def _snapshot_overrides(self, arm: Arm) -> dict:
        """With --select-snapshot, the periodic snapshots it compares (snapshot_overrides)."""
        if self.select_snapshot == "last":
            return {}
        return snapshot_overrides_for(arm.model, self.gen_config, self.gen_steps, self.gen_minutes)

    def _init_overrides(self, arm: Arm) -> dict:
        """--gen-init-from: only the gaunet arms (a GAU-Net run cannot start a DCGAN)."""
        if not self.gen_init_from or arm.model != "gaunet":
            return {}
        return {"init_from": str(Path(self.gen_init_from).resolve())}

    def _generated(
        self, run: Path, folder: Path, per_class: int | list[int], checkpoint: Path | None
    ) -> Path:
        """The manifest of `per_class` images per class from `run` (its `checkpoint` if given),
        generated unless the folder already holds them."""
        manifest = folder / "manifest.csv"
        if manifest.is_file() and made_by_checkpoint(
            manifest, checkpoint or Path(run) / "checkpoints"
        ):
            return manifest
        chosen: dict[str, Any] = {} if checkpoint is None else {"checkpoint": checkpoint}
        if self.noise_scale != 1.0:
            chosen["noise_scale"] = self.noise_scale
        if self.device != "auto":  # auto: generate_dataset's own default
            chosen["device"] = self.device
        return self.generate_fn(run, folder, per_class=per_class, seed=0, **chosen)

    def _selected_images(
        self, run: Path, name: str, subset: ImageSet, wanted: np.ndarray
    ) -> tuple[Path, Path, Path]:
        """(folder, manifest, checkpoint) of the snapshot `select_snapshot` picks. Each
        snapshot's images go to synthetic/<name>-snapshots/step-N-<sha>/, so a retrained run
        never reuses another checkpoint's images; the scores are kept in
        generators/<name>-selection.json and reused while the run's snapshots (steps and
        digests) are the same."""
        snapshots.check_criterion(self.select_snapshot, tuple(snapshots.RANKED_BY))
        candidates = snapshots.snapshot_candidates(run)
        root = self.out / "synthetic" / f"{name}-snapshots"

        def folder_of(candidate: dict) -> Path:
            return root / f"step-{candidate['step']:06d}-{candidate['sha256'][:12]}"

        record = self.out / "generators" / f"{name}-selection.json"
        saved = json_object_or_empty(record)  # damaged: scored again
        reused = snapshots.saved_choice(saved, self.select_snapshot, candidates, folder_of)
        if reused is not None:  # matched by the snapshots' digests, not the run's path
            folder, chosen = reused
            return folder, self._generated(run, folder, _counts(wanted), chosen), chosen
        if self.validation is None or len(self.validation) < 2:
            raise GaunetError(
                f"--select-snapshot {self.select_snapshot} needs a validation split of 2+ images"
            )
        extractor = self._extractor(subset)

        def images_of(candidate: dict) -> tuple[np.ndarray, np.ndarray]:
            checkpoint = Path(candidate["checkpoint"])
            manifest = self._generated(run, folder_of(candidate), _counts(wanted), checkpoint)
            return load_synthetic(manifest, wanted, subset.size, subset.channels)

        bar = progress(total=len(candidates), desc=f"snapshots of {name}", unit="snapshot")
        with bar:
            key = snapshots.RANKED_BY[self.select_snapshot][0]

            def scored(entry: dict) -> None:
                bar.set_postfix_str(f"step {entry['step']} {key} {entry[key]:.3g}")
                bar.update(1)

            result = snapshots.select_snapshot(
                run,
                self.validation,
                extractor,
                images_of,
                scored,
                candidates,
                criterion=self.select_snapshot,
                train_classifier=self._extractor,
                reference=subset,  # what extractor_fn trained on: the real yardstick
            )
        for entry in result["snapshots"]:
            entry["images"] = str(folder_of(entry))
        result = {"run": str(run), **result, "chosen": {**result["chosen"]}}
        result["chosen"]["images"] = str(folder_of(result["chosen"]))
        write_json(record, result)
        folder = folder_of(result["chosen"])
        return folder, folder / "manifest.csv", Path(result["chosen"]["checkpoint"])

"""Which snapshot of a generator run a generator arm samples: the last, or the one whose images
score best against the validation images (`--select-snapshot fd-val | cas-val`).

At a few hundred images and a CPU budget, the images of one run's snapshots differ by as much as
a lever does (docs/augmentation.md), and the last step is not necessarily the best. Both
criteria generate the arm's images from each snapshot of the run (the periodic step-XXXXXX.pt
files and the final last.pt) and keep one:

- `fd-val`: the lowest Frechet distance to the real **validation** images, in the feature space
  of a small CNN trained on the fraction's training images alone (the issue's criterion);
- `cas-val`: the highest validation AUC of a small CNN trained on that snapshot's images alone
  (a Classification Accuracy Score, Ravuri and Vinyals 2019): how much class evidence that
  carries over to real images the synthetic images hold, which is what augmentation needs.

Only snapshots from the second half of training are candidates (EARLIEST), so the choice
refines the end of the run instead of trading the training budget for an early generator.
Measured without this bound (docs/augmentation.md): fd-val chose step 200 of 2,000 on two of
three BreastMNIST subsets, smooth images with a lower FD but lower recall (0.54 and 0.33
against 0.87 and 0.51 at step 2,000) and lower noise diversity, and no better downstream gain.

Test images are never seen; the validation split is what the classifiers already use for early
stopping.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gaunet.data import ImageSet
from gaunet.errors import GaunetError, GaunetWarning
from gaunet.hashing import sha256_file
from gaunet.training.checkpoint import LAST, PERIODIC

CRITERIA = ("last", "fd-val", "cas-val")
# the score each criterion ranks by, and whether higher is better
RANKED_BY = {"fd-val": ("fd_val", False), "cas-val": ("cas_val_auc", True)}
# candidates start at this fraction of the run's last step (see the module docstring)
EARLIEST = 0.5
# periodic snapshots per run when the benchmark plans them (snapshot_overrides): every 200 of
# 2,000 steps, as measured in docs/augmentation.md
SNAPSHOTS_PER_RUN = 10


def checkpoint_sha256(path: Path) -> str:
    """The digest in the checkpoint's .sha256 sidecar (written with it), else of the file."""
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file():
        text = sidecar.read_text().split()
        if text:
            return text[0]
    return sha256_file(path)


def _last_step(path: Path) -> int | None:
    """last.pt's step; None, with a warning, when it cannot be read (as a resume or `gaunet
    generate` of the run skip it for the newest periodic file)."""
    from gaunet.training.checkpoint import load_checkpoint

    try:
        state, _, _ = load_checkpoint(path, fallback=False)
        return int(state["step"])
    except (GaunetError, KeyError, TypeError, ValueError) as error:
        warnings.warn(f"not a snapshot candidate: {error}", GaunetWarning, stacklevel=3)
        return None


def snapshot_candidates(run: Path, earliest: float = EARLIEST) -> list[dict]:
    """The run's snapshots from `earliest` x its last step on, oldest first: each periodic
    checkpoint, and last.pt when its step has no periodic file. Each entry: step, checkpoint
    path, sha256 (the cache fingerprint)."""
    folder = Path(run) / "checkpoints"
    found: dict[int, Path] = {}
    for path in sorted(folder.glob("step-*.pt")):  # one file per step, whatever the glob order:
        if match := PERIODIC.search(path.name):  # the trainer's step-XXXXXX.pt, else the first
            step = int(match.group(1))
            if step not in found or path.name == f"step-{step:06d}.pt":
                found[step] = path
    digests = {step: checkpoint_sha256(path) for step, path in found.items()}
    last = folder / LAST
    if last.is_file():
        sha = checkpoint_sha256(last)
        if sha not in digests.values():
            step = _last_step(last)
            if step is not None and step not in found:
                found[step], digests[step] = last, sha
    first = earliest * max(found, default=0)
    return [
        {"step": step, "checkpoint": str(path), "sha256": digests[step]}
        for step, path in sorted(found.items())
        if step >= first
    ]


def saved_choice(
    saved: dict, criterion: str, candidates: list[dict], folder_of: Callable[[dict], Path]
) -> tuple[Path, Path] | None:
    """(images folder, checkpoint) of a recorded pick (a <name>-selection.json) when it still
    holds: the same criterion and the same snapshots (steps and digests), wherever the run now
    is (a moved folder's record names the old path); or, for a folder carried without some or
    all of its checkpoints (every one left was scored), the recorded pick, from its checkpoint
    or from its images where they are still here: choosing again among fewer snapshots could
    give the new cells other images than the finished ones (or, with one left, nothing to
    choose from). None: choose again."""
    if saved.get("criterion") != criterion or "chosen" not in saved:
        return None
    pick = saved["chosen"]
    if not isinstance(pick, dict) or not {"sha256", "step", "checkpoint"} <= pick.keys():
        return None  # an entry edited or cut: choose again
    try:
        recorded = [(c["step"], c["sha256"]) for c in saved.get("snapshots", [])]
    except (KeyError, TypeError):
        return None
    if not {(c["step"], c["sha256"]) for c in candidates} <= set(recorded):
        return None  # a snapshot never scored: the run was retrained
    here = next((c for c in candidates if c["sha256"] == pick["sha256"]), None)
    if here is not None:
        return folder_of(here), Path(here["checkpoint"])
    folder = folder_of(pick)
    return (folder, Path(pick["checkpoint"])) if (folder / "manifest.csv").is_file() else None


def check_criterion(criterion: str, allowed: tuple[str, ...] = CRITERIA) -> None:
    """Refuse a --select-snapshot value that is not one of `allowed`."""
    if criterion not in allowed:
        raise GaunetError(f"--select-snapshot {criterion!r}: choose one of {', '.join(allowed)}")


def check_generator_config(periodic_every: int, keep_periodic: int, steps: int | None) -> None:
    """Refuse, before any training, a generator config that leaves fewer than 2 snapshots."""
    if periodic_every <= 0:
        raise GaunetError(
            "--select-snapshot compares periodic snapshots, but the generator config's "
            "periodic_every is 0: give --gen-steps (the benchmark then plans the snapshots) or "
            "set it (e.g. --gen-config a YAML with periodic_every: 200 and keep_periodic: 0)"
        )
    if steps is not None and periodic_every >= steps:
        raise GaunetError(
            f"--select-snapshot: periodic_every {periodic_every} is not below the "
            f"generator's {steps} steps, so there is one snapshot to choose from; set "
            "periodic_every to a fraction of the steps (e.g. steps / 10; the second half of "
            "training is compared) in the generator config"
        )
    if keep_periodic == 1:
        raise GaunetError(
            "--select-snapshot: keep_periodic 1 keeps one snapshot; set 0 (keep all), or give "
            "--gen-steps (the benchmark then plans the snapshots)"
        )


def snapshot_overrides(periodic_every: int, keep_periodic: int, steps: int | None) -> dict:
    """Generator config overrides that leave --select-snapshot snapshots to compare: where the
    config would keep fewer than 2 in the second half of `steps`, a periodic snapshot every
    steps / SNAPSHOTS_PER_RUN; where it would prune some of them, keep all (keep_periodic 0).
    {} when the config already serves. With the steps unknown (a minutes budget) nothing can
    be planned, and a config that cannot serve is refused (check_generator_config)."""
    if steps is None:
        check_generator_config(periodic_every, keep_periodic, None)
        return {}

    def candidates(every: int) -> int:
        periodic = sum(1 for k in range(every, steps + 1, every) if k >= EARLIEST * steps)
        return periodic + (1 if steps % every else 0)  # last.pt off the periodic grid

    overrides = {}
    if periodic_every <= 0 or candidates(periodic_every) < 2:
        periodic_every = overrides["periodic_every"] = max(1, steps // SNAPSHOTS_PER_RUN)
    if keep_periodic != 0 and keep_periodic < candidates(periodic_every):
        keep_periodic = overrides["keep_periodic"] = 0
    check_generator_config(periodic_every, keep_periodic, steps)  # e.g. a 1-step run
    return overrides


def score_snapshot(
    images: np.ndarray, labels: np.ndarray, validation: ImageSet, extractor: Any
) -> dict[str, float]:
    """FD to the validation images in the extractor's features (`fd_val`, lower is closer) and
    the share of images the extractor assigns to their intended class (`pa`, recorded only)."""
    from gaunet.metrics.frechet import frechet_distance

    if len(images) < 2 or len(validation) < 2:
        raise GaunetError(
            f"snapshot selection needs at least 2 synthetic and 2 validation images, got "
            f"{len(images)} and {len(validation)}"
        )
    fd = frechet_distance(extractor(images), extractor(validation.images))
    predicted = np.asarray(extractor.predict_proba(images)).argmax(1)
    return {"fd_val": float(fd), "pa": float(np.mean(predicted == labels))}


def cas_score(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    validation: ImageSet,
    train_classifier: Callable[[ImageSet], Any],
) -> dict[str, float]:
    """Validation AUC and balanced accuracy of a classifier trained on these images alone."""
    from gaunet.downstream.classifiers import balanced_accuracy
    from gaunet.downstream.stats import auc_score

    ids = np.asarray([f"synthetic/{i}" for i in range(len(images))])
    synthetic = ImageSet(images, np.asarray(labels, np.int64), list(class_names), ids, ids)
    probabilities = np.asarray(train_classifier(synthetic).predict_proba(validation.images))
    return {
        "cas_val_auc": auc_score(validation.labels, probabilities),
        "cas_val_balanced_accuracy": balanced_accuracy(validation.labels, probabilities.argmax(1)),
    }


def choose_snapshot(scores: list[dict], criterion: str = "fd-val") -> dict:
    """The best entry by the criterion's score (NaN ranks last); on a tie, the later step."""
    if not scores:
        raise GaunetError("no snapshots were scored")
    key, higher = RANKED_BY[criterion]

    def rank(entry: dict) -> tuple[bool, float, int]:
        value = float(entry[key])
        if np.isnan(value):  # after every number, an infinite one included
            return (True, 0.0, -entry["step"])
        return (False, -value if higher else value, -entry["step"])

    return min(scores, key=rank)


def select_snapshot(
    run: Path,
    validation: ImageSet,
    extractor: Any,
    images_of: Callable[[dict], tuple[np.ndarray, np.ndarray]],
    on_scored: Callable[[dict], None] | None = None,
    candidates: list[dict] | None = None,
    criterion: str = "fd-val",
    train_classifier: Callable[[ImageSet], Any] | None = None,
    reference: ImageSet | None = None,
) -> dict:
    """Score every snapshot of `run` (`candidates`, default snapshot_candidates(run);
    `images_of(candidate)` gives the arm's images from that snapshot) and return
    {"criterion", "chosen", "snapshots"}; `chosen` is one snapshot entry (step, checkpoint,
    sha256, fd_val, pa, and for cas-val cas_val_auc and cas_val_balanced_accuracy).
    `train_classifier(ImageSet)` gives an object with predict_proba (cas-val only).

    With `reference`, the real training images `extractor` was trained on, the result also
    holds "real": the same scores for those images, with the cas-val scores under either
    criterion (the extractor's own validation scores: no extra training). It is the yardstick
    a user needs: a snapshot as far from the validation images as the real training images
    are is as close as the data allow, and synthetic images that teach less than the real
    ones carry no new class evidence."""
    check_criterion(criterion, tuple(RANKED_BY))
    if criterion == "cas-val" and train_classifier is None:
        raise GaunetError("cas-val needs a classifier to train on each snapshot's images")
    candidates = snapshot_candidates(run) if candidates is None else candidates
    if len(candidates) < 2:
        raise GaunetError(
            f"{run}: {len(candidates)} snapshot(s) in the second half of training to choose "
            "from; --select-snapshot needs the generator config's periodic_every below its "
            "steps (and keep_periodic 0), or use --select-snapshot last"
        )
    scores = []
    for candidate in candidates:
        images, labels = images_of(candidate)
        entry = {**candidate, **score_snapshot(images, labels, validation, extractor)}
        if criterion == "cas-val":
            names = validation.class_names
            entry.update(cas_score(images, labels, names, validation, train_classifier))
        scores.append(entry)
        if on_scored is not None:
            on_scored(entry)
    chosen = choose_snapshot(scores, criterion)
    result = {"criterion": criterion, "chosen": chosen, "snapshots": scores}
    if reference is not None:  # cas scores too whatever the criterion: the extractor's own
        real = score_snapshot(reference.images, reference.labels, validation, extractor)
        names = validation.class_names
        real.update(
            cas_score(reference.images, reference.labels, names, validation, lambda _: extractor)
        )
        result["real"] = real
    return result

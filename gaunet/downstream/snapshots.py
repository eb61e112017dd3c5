"""Which snapshot of a generator run a generator arm samples: the last, or the closest to the
validation images (`--select-snapshot fd-val`).

At a few hundred images and a CPU budget, the images of one run's snapshots differ by as much as
a lever does (docs/augmentation.md), and the last step is not necessarily the best. `fd-val`
generates the arm's images from each periodic checkpoint (step-XXXXXX.pt) of the run, and keeps
the checkpoint whose images have the lowest Frechet distance to the real **validation** images
in the feature space of a small CNN trained on the fraction's training images alone. Test images
are never seen; the validation split is what the classifiers already use for early stopping.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gaunet.data import ImageSet
from gaunet.errors import GaunetError
from gaunet.metrics.frechet import frechet_distance
from gaunet.training.checkpoint import PERIODIC

CRITERIA = ("last", "fd-val")


def periodic_checkpoints(run: Path) -> list[Path]:
    """The run's periodic checkpoints, oldest first."""
    folder = Path(run) / "checkpoints"
    found = [p for p in folder.glob("step-*.pt") if PERIODIC.search(p.name)]
    return sorted(found, key=lambda p: int(PERIODIC.search(p.name).group(1)))


def checkpoint_step(path: Path) -> int:
    return int(PERIODIC.search(Path(path).name).group(1))


def score_snapshot(
    images: np.ndarray, labels: np.ndarray, validation: ImageSet, extractor: Any
) -> dict[str, float]:
    """FD to the validation images in the extractor's features (`fd_val`, lower is closer) and
    the share of images the extractor assigns to their intended class (`pa`, recorded only)."""
    if len(images) < 2 or len(validation) < 2:
        raise GaunetError(
            f"snapshot selection needs at least 2 synthetic and 2 validation images, got "
            f"{len(images)} and {len(validation)}"
        )
    fd = frechet_distance(extractor(images), extractor(validation.images))
    predicted = np.asarray(extractor.predict_proba(images)).argmax(1)
    return {"fd_val": float(fd), "pa": float(np.mean(predicted == labels))}


def choose_snapshot(scores: list[dict]) -> dict:
    """The entry with the lowest `fd_val`; on a tie, the later step (more training)."""
    if not scores:
        raise GaunetError("no snapshots were scored")
    return min(scores, key=lambda s: (s["fd_val"], -s["step"]))


def select_snapshot(
    run: Path,
    validation: ImageSet,
    extractor: Any,
    images_of: Callable[[Path], tuple[np.ndarray, np.ndarray]],
    on_scored: Callable[[dict], None] | None = None,
) -> dict:
    """Score every periodic checkpoint of `run` (`images_of(checkpoint)` gives the arm's images
    from it) and return {"criterion", "chosen", "snapshots"}; `chosen` is one snapshot entry
    (step, checkpoint, fd_val, pa)."""
    files = periodic_checkpoints(run)
    if not files:
        raise GaunetError(
            f"{run}: no periodic checkpoints (checkpoints/step-XXXXXX.pt) to choose from; set "
            "the generator config's periodic_every below its step count (and keep_periodic to "
            "0 or the number to compare), or use --select-snapshot last"
        )
    scores = []
    for path in files:
        images, labels = images_of(path)
        entry = {"step": checkpoint_step(path), "checkpoint": str(path)}
        entry.update(score_snapshot(images, labels, validation, extractor))
        scores.append(entry)
        if on_scored is not None:
            on_scored(entry)
    return {"criterion": "fd-val", "chosen": choose_snapshot(scores), "snapshots": scores}

"""What `gaunet generate` settles before it draws an image: every option checked (before an
earlier generation in the folder is touched), the checkpoint (of the run given), the classes
it can draw (not those the generator never trained on), and the earlier generation's files
out of the way."""

from __future__ import annotations

import csv
import numbers
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gaunet.errors import GaunetError, GaunetWarning, os_error

EARLIER_RECORDS = (
    "manifest.csv", "provenance.csv", "filter.json", "copy_filter.json", "source_ids.csv"
)  # fmt: skip
# Written before generate touches a folder, removed once its manifest is written: left behind (a
# kill -9, a power cut, a Ctrl-C while an earlier generation was removed), it says that the
# images without a manifest there are a stopped generation's, which the next one removes.
# Hidden: the readers ignore it.
IN_PROGRESS = ".gaunet-generating"


def refuse_foreign_records(out: Path) -> None:
    """GaunetError, before anything is written, when `out` holds a manifest.csv or
    provenance.csv that `gaunet generate` did not write (a dataset's): replacing an earlier
    generation would delete the files it lists, i.e. the dataset's own images."""
    from gaunet.data.readers.decode import first_image_file
    from gaunet.data.readers.manifest import is_generated

    for name in ("manifest.csv", "provenance.csv"):
        path = Path(out) / name
        if path.is_file() and not is_generated(path):
            raise GaunetError(
                f"--out {out}: holds a {name} that gaunet generate did not write (a dataset?); "
                "generating there would replace the files it lists. Nothing written; choose "
                "another --out"
            )
    manifest = Path(out) / "manifest.csv"
    stopped = (Path(out) / IN_PROGRESS).is_file()  # a stopped generation's images: removed
    if not stopped and not manifest.is_file() and (image := first_image_file(Path(out))):
        raise GaunetError(
            f"--out {out}: holds images no gaunet generate manifest lists ({image}; a "
            "class-folder dataset?); the manifest written there would make the folder read as "
            "the generated images alone. Nothing written; choose another --out"
        )


def remove_earlier_generation(out: Path) -> None:
    """What an earlier generation into `out` wrote: the images its manifest lists, its npz and
    its records. Left, they would be read as this generation's (a PNG folder without its
    manifest is a class-folder source), listed as unlabelled files, or describe a filter this
    generation did not apply. Only files gaunet wrote are removed: a manifest it did not write
    (a dataset's) is refused here too, under the lock, not only in generate's early check."""
    refuse_foreign_records(out)
    listed: list[Path] = []
    if (out / IN_PROGRESS).is_file():  # stopped before its manifest: every PNG it wrote
        listed = sorted(path.resolve() for path in out.glob("*/*.png"))
    if (out / "manifest.csv").is_file():
        with open(out / "manifest.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        root = out.resolve()
        listed += [
            path for row in rows if row.get("path")
            if (path := (out / row["path"]).resolve()).is_relative_to(root)
        ]  # fmt: skip
    for path in [*listed, out / "synthetic.npz", *(out / name for name in EARLIER_RECORDS)]:
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            raise GaunetError(os_error(error, path, "cannot replace")) from None
    for folder in {path.parent for path in listed} - {out.resolve()}:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def skip_unpaired(gen, counts: list[int]) -> list[int]:
    """No images of a class with fewer than 2 training images: the generator never trained
    on it (its class embedding is as initialised), so its images would only look labelled."""
    # no training images beside the checkpoint: GaunetError here, before the output folder or
    # an earlier generation in it is touched (they condition every image)
    train = np.bincount(gen.train_images.labels, minlength=len(gen.class_names))
    unpaired = [c for c in range(len(counts)) if train[c] < 2 and counts[c]]
    if not unpaired:
        return counts
    names = ", ".join(repr(gen.class_names[c]) for c in unpaired)
    if len(unpaired) == sum(1 for n in counts if n):
        raise GaunetError(f"class(es) {names}: fewer than 2 training images, never trained on")
    warnings.warn(
        f"class(es) {names} left out: fewer than 2 training images, so the generator never "
        "trained on them",
        GaunetWarning,
        stacklevel=3,
    )
    return [0 if c in unpaired else n for c, n in enumerate(counts)]


def checkpoint_of(run: str | Path, checkpoint: str | Path | None) -> Path:
    """The checkpoint to sample: `checkpoint` when given, which must belong to `run` (its
    training images and split are the run's), else the run's last."""
    if checkpoint is None:
        return Path(run)
    from gaunet.training.run_folder import run_folder_of

    run = run_folder_of(Path(run).expanduser())  # RUN/checkpoints is RUN
    where, home = Path(checkpoint).expanduser().resolve(), run.resolve()
    if not where.is_relative_to(home):
        raise GaunetError(
            f"--checkpoint {checkpoint} is not inside --run {run}: give the run folder the "
            "checkpoint was written in (its training images and split come from there)"
        )
    if where == home / "checkpoints" and where.is_dir():  # the folder of them: its last one
        return Path(checkpoint) / "last.pt"
    if where != home and where.parent != home / "checkpoints":
        # the generator reads its training images from beside the checkpoint's folder
        raise GaunetError(
            f"--checkpoint {checkpoint}: not one of the run's checkpoints, which live in "
            f"{Path(run) / 'checkpoints'}/*.pt (its training images and split are read from "
            "the run folder that holds that folder); give one of those files"
        )
    return Path(checkpoint)


def check_request(
    fmt: str,
    per_class: int | Sequence[int],
    batch_size: int,
    seed: int = 0,
    max_copy_rate: float | None = None,
) -> None:
    """Every option checked before anything is read or an earlier output touched."""
    from gaunet.config import seed_problem

    if seed_problem(seed):
        raise GaunetError(seed_problem(seed))
    if max_copy_rate is not None and not 0.0 <= max_copy_rate <= 1.0:
        raise GaunetError(f"--max-copy-rate must be in [0, 1], not {max_copy_rate}")
    if fmt not in ("png", "npz"):
        raise GaunetError(f"format must be png or npz, not {fmt!r}")
    if isinstance(per_class, bool) or not (_is_count(per_class) or _is_counts(per_class)):
        raise GaunetError(f"per_class must be a whole number or one per class, not {per_class!r}")
    if _is_count(per_class) and per_class < 1:
        raise GaunetError(f"per_class must be at least 1, not {per_class}")
    if not _is_count(per_class) and (min(per_class, default=-1) < 0 or sum(per_class) < 1):
        raise GaunetError(f"per_class counts must be >= 0 with at least one image: {per_class}")
    if batch_size < 1:
        raise GaunetError(f"batch size must be at least 1, not {batch_size}")


def _is_count(value) -> bool:
    """A whole number (numpy's included), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_counts(value) -> bool:
    return isinstance(value, Sequence | np.ndarray) and all(_is_count(n) for n in value)


def class_counts(per_class: int | Sequence[int], classes: int) -> list[int]:
    """One count per class: an int is the same for every class; a sequence (class index order)
    lets an imbalanced dataset get only the images each class needs. Image k of a class depends
    only on (seed, class, k), so a smaller count gives a prefix of the same images."""
    if _is_count(per_class):
        return [int(per_class)] * classes
    counts = [int(n) for n in per_class]
    if len(counts) != classes:
        raise GaunetError(f"per_class has {len(counts)} counts, the generator {classes} classes")
    return counts

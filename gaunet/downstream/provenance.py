"""What a generator arm may add to a benchmark cell, checked: a run trained on exactly the
fraction subset (never on validation or test images), the manifest of its synthetic images,
whose every source is a subset image, and those images read at the benchmark's size."""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from gaunet.data import read_split
from gaunet.data.prepare import resize_to
from gaunet.errors import GaunetError, GaunetWarning


def train_ids(run: Path) -> set[str]:
    """Ids of the rows a run was trained on, from its split.csv."""
    return {i for i, split in read_split(run / "split.csv").items() if split == "train"}


def check_run_matches(run: Path, subset_ids: set[str], fraction: float) -> None:
    """The run must have been trained on exactly this subset: no more (val/test), no less."""
    trained = train_ids(run)
    if trained != subset_ids:
        extra, missing = len(trained - subset_ids), len(subset_ids - trained)
        raise GaunetError(
            f"{run}: its train split ({len(trained)} images) is not the fraction {fraction} "
            f"training subset ({len(subset_ids)}; {extra} not in it, {missing} missing); use "
            "an arm name (gaunet, gan, cgan) to train one per fraction, or drop that fraction"
        )


def read_synthetic_manifest(path: Path) -> list[dict[str, str]]:
    """The rows of the manifest.csv `gaunet generate` wrote (path, label, source_id, ...)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"path", "label"} <= set(rows[0]):
        raise GaunetError(f"{path}: a manifest needs path and label columns")
    return rows


def check_provenance(manifest: Path, run: Path, subset_ids: set[str]) -> None:
    """Synthetic images must come from a generator trained (and conditioned) on the subset only.

    A manifest's source_id is the training image's id or, as `gaunet generate` writes it, the
    opaque hash of that id; both are checked against the subset.
    """
    from gaunet.trained_generator import opaque_id

    trained = train_ids(run)
    if not trained <= subset_ids:
        raise GaunetError(
            f"{run}: trained on {len(trained - subset_ids)} images outside the training subset "
            "(validation or test images would leak into the classifier's extra data)"
        )
    allowed = subset_ids | {opaque_id(i) for i in subset_ids}
    for row in read_synthetic_manifest(manifest):
        source = row.get("source_id", "")
        if source and source not in allowed:
            raise GaunetError(
                f"{manifest}: {row['path']} was conditioned on {source}, not a "
                "training-subset image"
            )


def load_synthetic(
    manifest: Path, wanted: np.ndarray, size: int, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first `wanted[c]` images of each class c listed in the manifest, as uint8 arrays."""
    images, labels = [], []
    for label, image, _ in iter_synthetic(manifest, wanted, size, channels):
        images.append(image)
        labels.append(label)
    shape = (0, channels, size, size)
    stack = np.stack(images) if images else np.zeros(shape, np.uint8)
    return stack, np.asarray(labels, dtype=np.int64)


def iter_synthetic(
    manifest: Path, wanted: np.ndarray, size: int, channels: int
) -> Iterator[tuple[int, np.ndarray, str]]:
    """`load_synthetic`'s images one at a time as (label, uint8 CHW image, source_id), in
    manifest order, for a caller that keeps only some of them (the filter); a class short of
    its count is refused after the last row."""
    taken = np.zeros_like(wanted)
    for row in read_synthetic_manifest(manifest):
        label = int(row["label"])
        if label < 0:  # would count toward the last class (taken[-1]) and be returned as -1
            raise GaunetError(
                f"{manifest}: {row['path']} has label {label}; a class index is 0 or more "
                "(a damaged or edited manifest: remove its folder to generate it again)"
            )
        if label >= len(wanted) or taken[label] >= wanted[label]:
            continue
        with Image.open(manifest.parent / row["path"]) as image:
            yield label, resize_to(np.asarray(image), size, channels), row.get("source_id", "")
        taken[label] += 1
    short = np.flatnonzero(taken < wanted)
    if len(short):
        c = int(short[0])
        raise GaunetError(f"{manifest}: {taken[c]} images of class {c}, {wanted[c]} needed")


def made_by_checkpoint(manifest: Path, checkpoint: Path) -> bool:
    """Whether a synthetic folder's images came from this checkpoint (a file, or a run's
    checkpoints/ folder meaning its last.pt): its manifest's checkpoint_sha256 against the
    checkpoint's sidecar. A generator retrained in place (after its record was deleted, as a
    refusal advises) must not keep the images of the one before. True where no checkpoint is
    left to compare with (a folder carried without them continues from its images). For a
    folder, the checkpoint generation loads: last.pt, or where it is unusable the newest good
    periodic file (whose images never matched last.pt's sidecar, so were made on every run)."""
    folder = checkpoint if checkpoint.is_dir() else None
    if folder is not None:
        checkpoint = folder / "last.pt"
    sidecar = checkpoint.with_name(checkpoint.name + ".sha256")
    try:
        expected = sidecar.read_text().split()[0]
        with open(manifest, newline="") as handle:
            made = next(csv.DictReader(handle), {}).get("checkpoint_sha256")
    except (OSError, IndexError):
        return True
    if not made or made == expected:
        return True
    return folder is not None and made == _loaded_digest(folder)


def _loaded_digest(folder: Path) -> str | None:
    """The digest of the checkpoint `gaunet generate --run` loads from a checkpoints folder
    (it warns of any file it skips); None when none is usable."""
    from gaunet.training.checkpoint import load_checkpoint

    try:
        return load_checkpoint(folder, map_location="cpu", fallback=True)[2]
    except GaunetError:
        return None


RUN_ARMS = "run-arms.json"  # a benchmark folder's run-folder arms: which run each name was


def _run_identity(run: Path) -> dict[str, str]:
    """What a run-folder arm is: where it was, and the digest of its last checkpoint."""
    sidecar = run / "checkpoints" / "last.pt.sha256"
    try:
        digest = sidecar.read_text().split()[0]
    except (OSError, IndexError):
        digest = ""
    return {"path": str(run.resolve()), "checkpoint_sha256": digest}


def _is_identity(entry: object) -> bool:
    """Whether a run-arms.json entry is a record _run_identity wrote (its path at least)."""
    return isinstance(entry, dict) and isinstance(entry.get("path"), str)


def check_run_arms(out: Path, runs: dict[str, Path], rows: list[dict]) -> None:
    """An arm `run:NAME` named after its folder alone must stay the same run while results.csv
    holds its cells: another folder of that name, or the run retrained in place, is refused
    (its images are another generator's), then each arm's run is recorded in out/RUN_ARMS."""
    from gaunet.io import write_json

    path = Path(out) / RUN_ARMS
    try:
        saved = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        saved = None
    done = {row["arm"] for row in rows}
    if not isinstance(saved, dict):  # damaged: say the check is lost, not skip it silently
        unchecked = [name for name in runs if name in done]
        if unchecked:
            warnings.warn(
                f"{path} is unreadable, so {', '.join(unchecked)} cannot be checked against the "
                "run their cells were made with; recorded again from the runs given now",
                GaunetWarning,
                stacklevel=2,
            )
        saved = {}
    # an entry that is not a record: the same, for its arm (kept, it was never checked again)
    damaged = [n for n in runs if n in done and n in saved and not _is_identity(saved[n])]
    if damaged:
        warnings.warn(
            f"{path}: the entries of {', '.join(damaged)} are damaged, so they cannot be checked "
            "against the run their cells were made with; recorded again from the runs given now",
            GaunetWarning,
            stacklevel=2,
        )
        for name in damaged:
            del saved[name]
    for name, run in runs.items():
        now, before = _run_identity(run), saved.get(name)
        if name in done and isinstance(before, dict):
            same = (
                now["checkpoint_sha256"] == before.get("checkpoint_sha256")
                if now["checkpoint_sha256"] and before.get("checkpoint_sha256")
                else now["path"] == before.get("path")
            )
            if not same:
                raise GaunetError(
                    f"arm {name}: {run} is not the run this folder's {name} cells were made "
                    f"with ({before.get('path')}, another checkpoint); use another --out, or "
                    f"give that run"
                )
        saved[name] = now if name not in done or name not in saved else saved[name]
    write_json(path, saved)

"""Grouped, stratified 7:1:2 splits, deterministic by seed, saved as CSV with every run.

No group is in two splits. A group is the unit the source names (a manifest's `patient_id` or
`group`, a DICOM PatientID, a lesion or volume in the recipes). A source without such ids
(class folders, most .npz files) makes each image its own group: then near-duplicate images of
one patient (views, frames, crops) may land in different splits, and leakage between them
cannot be ruled out; `grouping_note` says which case a set is in. Identical images (one image
stored twice) never land in two splits: where the split of the source's groups would separate
them, their groups are joined and the split made again (since 2026-12-07; duplicates.py).
Groups are assigned greedily, largest first, to the split whose per-class counts are furthest
below target, so small classes still reach val and test.

`apply_run_split` (also `load_source(..., split_from=RUN)`) gives a source the split a training
run used, so that a classifier trained afterwards sees the same train/val/test rows;
`generator_split` also finds the whole source's split of a benchmark's (or the demo's)
generator, whose own split.csv lists only the subset it trained on.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np

from gaunet.data.duplicates import duplicate_sets, split_groups
from gaunet.data.imageset import SPLITS, ImageSet
from gaunet.data.readers.items import SourceError
from gaunet.io import write_atomic

DEFAULT_RATIOS = (0.7, 0.1, 0.2)


def make_split(
    labels: np.ndarray,
    groups: np.ndarray,
    seed: int = 0,
    ratios: tuple[float, float, float] = DEFAULT_RATIOS,
) -> np.ndarray:
    """Split names (N,) with whole groups per split, class proportions as close as groups allow."""
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    ratios_arr = np.asarray(ratios, dtype=np.float64) / np.sum(ratios)
    num_classes = int(labels.max()) + 1 if len(labels) else 0
    unique, inverse = np.unique(groups, return_inverse=True)
    per_group = np.zeros((len(unique), num_classes))
    np.add.at(per_group, (inverse, labels), 1)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(unique))
    order = order[np.argsort(-per_group[order].sum(1), kind="stable")]
    target = per_group.sum(0)[None, :] * ratios_arr[:, None]
    assigned = np.zeros_like(target)
    group_split = np.zeros(len(unique), dtype=np.int64)
    for g in order:
        counts = per_group[g]
        deficit = ((target - assigned) * counts[None, :]).sum(1) / max(counts.sum(), 1)
        deficit += 1e-9 * ratios_arr  # ties go to the larger split
        choice = int(np.argmax(deficit))
        group_split[g] = choice
        assigned[choice] += counts
    return np.asarray(SPLITS)[group_split[inverse]]


def assign_split(data: ImageSet, seed: int = 0) -> ImageSet:
    """Keep an official split when the source has one, else make a grouped stratified split
    that keeps identical images together (`split_keeping_copies`)."""
    if data.split is None:
        sets = duplicate_sets(data.images)
        data.split = split_keeping_copies(data.labels, data.groups, sets, seed=seed)
    return data


def folder_split(data: ImageSet, saved: Path, seed: int = 0, note: bool = True) -> ImageSet:
    """`data` with the split a resumable folder (a benchmark's, the demo's) saved in `saved`
    when there is one, else `assign_split`. The folder's finished work was made on its saved
    split, and a later gaunet may assign another (identical images kept together since
    2026-12-07): resuming on a new split would mix cells of two splits. A source that no
    longer matches the saved split is refused, saying what differs. `note` False: no look for
    identical images across the saved split (a --jobs worker: its parent has said it)."""
    if data.split is not None and saved.is_file():  # an official split: still the saved one?
        rows, mismatch = _saved_rows(data, saved, "the saved split")  # and the same classes
        if not mismatch and any(
            rows[str(i)]["split"] != str(s) for i, s in zip(data.ids, data.split, strict=True)
        ):  # a prepared set redone with another seed, say
            mismatch = f"its own split differs from {saved.name}"
        if mismatch:
            raise SourceError(
                f"{saved.parent} was made on another version of {data.source or 'this source'} "
                f"({mismatch}): continue it on the source it was made on, or use a new folder"
            )
    if data.split is not None or not saved.is_file():
        return assign_split(data, seed=seed)
    rows, mismatch = _saved_rows(data, saved, "the saved split")
    if mismatch:
        raise SourceError(
            f"{saved.parent} was made on another version of {data.source or 'this source'} "
            f"({mismatch}): continue it on the source it was made on, or use a new folder"
        )
    data.split = np.asarray([rows[str(i)]["split"] for i in data.ids])
    pairs = {(str(g), str(s)) for g, s in zip(data.groups, data.split, strict=True)}
    cut = len(pairs) - len({g for g, _ in pairs})  # groups beyond one split each
    if cut and note:  # the source names patients now; the split was made without them
        print(
            f"note: {saved} puts patients (groups) of this source in more than one split "
            f"({cut} extra group-split pair{'s' * (cut != 1)}: it was made when the source named "
            "none); this folder keeps it so that its results stay comparable, and a new folder "
            "gets a split that keeps each patient in one",
            file=sys.stderr,
        )
    sets = duplicate_sets(data.images) if note else []  # hashes every image: once, not per worker
    crossing = [rows for rows in sets if len(set(data.split[rows])) > 1]
    if crossing:
        print(
            f"note: {saved} puts {len(crossing)} set{'s' * (len(crossing) != 1)} of identical "
            "images in two splits (made "
            "before gaunet kept them together); this folder keeps it so that its results stay "
            "comparable, and a new folder gets a split that keeps them together",
            file=sys.stderr,
        )
    return data


def split_keeping_copies(
    labels: np.ndarray,
    groups: np.ndarray,
    sets: list[np.ndarray],
    seed: int = 0,
    ratios: tuple[float, float, float] = DEFAULT_RATIOS,
) -> np.ndarray:
    """`make_split` of the source's groups when it keeps every set of identical images
    (`duplicate_sets`) in one split (then it is the split gaunet assigned before it looked for
    copies), else of the groups with the copies' groups joined."""
    split = make_split(labels, groups, seed=seed, ratios=ratios)
    if any(len(set(split[rows])) > 1 for rows in sets):
        split = make_split(labels, split_groups(groups, sets), seed=seed, ratios=ratios)
    return split


def write_split(path: Path, data: ImageSet) -> None:
    """split.csv: id, group, label, class, split: enough to rebuild and audit the split.
    Written atomically: a resume trusts it, and a torn one would read as a changed source."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["id", "group", "label", "class", "split"])
    for i in range(len(data)):
        label = int(data.labels[i])
        writer.writerow(
            [data.ids[i], data.groups[i], label, data.class_names[label], data.split[i]]
        )
    write_atomic(path, text.getvalue().encode(), durable=False)


def read_split(path: Path) -> dict[str, str]:
    """id -> split name, from a split.csv written by `write_split`."""
    return {i: row["split"] for i, row in _read_rows(path).items()}


def _read_rows(path: Path) -> dict[str, dict]:
    """A split.csv's rows by id: UTF-8 as written, a BOM (a spreadsheet's save) ignored; a
    SourceError when it has no id or split column or names a split other than train, val,
    test (such rows would be in no split: silently left out of all three)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not {"id", "split"} <= set(reader.fieldnames or ()):
            raise SourceError(f"{path}: not a split.csv (it needs id and split columns)")
        rows = {row["id"]: row for row in reader}
    bad = [(i, row["split"]) for i, row in rows.items() if row["split"] not in SPLITS]
    if bad:
        raise SourceError(
            f"{path}: {len(bad)} rows name no split of {', '.join(SPLITS)} "
            f"(e.g. {bad[0][0]}: {bad[0][1]!r})"
        )
    return rows


def apply_split(data: ImageSet, path: Path) -> ImageSet:
    """Reuse a saved split; every id must be known, so a changed source is caught, not guessed."""
    saved = read_split(path)
    missing = [i for i in data.ids if i not in saved]
    if missing:
        raise ValueError(
            f"{path}: {len(missing)} images are not in the saved split (e.g. {missing[0]})"
        )
    data.split = np.asarray([saved[i] for i in data.ids])
    return data


def split_file(run: str | Path) -> Path:
    """The split.csv of a run folder (or of the run holding a checkpoint file), or the path
    itself when it is a split.csv."""
    path = Path(run).expanduser()
    if path.is_file() and path.suffix.lower() == ".csv":
        return path
    folders = [path] if path.is_dir() else [path.parent, path.parent.parent]  # a checkpoint
    for folder in folders:
        if (folder / "split.csv").is_file():
            return folder / "split.csv"
    raise SourceError(f"{path}: no split.csv (not a run folder written by `gaunet train`)")


def apply_run_split(data: ImageSet, run: str | Path) -> ImageSet:
    """`data` with the split of a training run: the same images, each in the split it had
    there. An error, saying what differs, unless the run's split.csv lists exactly the images
    of `data` with the same classes: a changed or different source is never matched by guess.
    """
    path = split_file(run)
    rows, mismatch = _saved_rows(data, path, "the run's split")
    if mismatch:
        raise SourceError(
            f"{data.source or 'this source'} does not match the split of {path.parent}: "
            f"{mismatch}. Load the source the run was trained on (its config.yaml `data`), "
            "unchanged: adding or removing files changes every id"
        )
    data.split = np.asarray([rows[str(i)]["split"] for i in data.ids])
    return data


def _saved_rows(data: ImageSet, path: Path, name: str) -> tuple[dict[str, dict], str]:
    """A split.csv's rows by id, and what keeps them from being exactly `data`'s images with
    the same classes ("" when nothing does); `name`: what to call the split in that."""
    rows = _read_rows(path)
    ids = [str(i) for i in data.ids]
    missing = [i for i in ids if i not in rows]
    extra = len(set(rows) - set(ids))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} of its {len(ids)} images are not in {name}")
        if extra:
            parts.append(f"{extra} of the {len(rows)} images of {name} are not in it")
        return rows, " and ".join(parts)
    wrong = [
        i for i, label in zip(ids, data.labels)
        if rows[i].get("class") not in (None, data.class_names[int(label)])
    ]  # fmt: skip
    if wrong:
        return rows, (
            f"{len(wrong)} images have another class there (e.g. {wrong[0]}: "
            f"{rows[wrong[0]]['class']!r})"
        )
    return rows, ""


def generator_split(data: ImageSet, run: str | Path) -> tuple[ImageSet, Path]:
    """`data` with the split that keeps a generator's training images out of val and test, and
    the split.csv it came from: the run's own, else, for a generator trained on a low-data
    subset (a benchmark's BENCH/generators/RUN/, a demo's DIR/runs/gaunet/, whose split.csv
    lists only that subset), the enclosing folder's split of the whole source when every image
    the run trained on is in its train part. A SourceError (the run's own) otherwise."""
    own = split_file(run)
    try:
        return apply_run_split(data, own), own
    except SourceError:
        whole = own.parent.parent.parent / "split.csv"
        if not whole.is_file():
            raise
        splits, trained = read_split(whole), read_split(own)
        if any(splits.get(i) != "train" for i, part in trained.items() if part == "train"):
            raise
        return apply_run_split(data, whole), whole


def empty_split_cause(
    split: np.ndarray | None,
    groups: np.ndarray,
    labels: np.ndarray | None = None,
    seed: int = 0,
) -> str:
    """Why the val or test split is empty, when the groups are the cause ("" when none is
    empty, or when a grouped split of these groups fills it: a source's own split without it,
    say). A split keeps each group (patient) whole, so an anonymised export that gives every
    file one PatientID ("ANON") puts every image in train, and a few groups of unequal sizes
    (6 to 9 patients, say) can leave val or test without any: the commands that need val and
    test only said that they were empty. With 6 or more groups the grouped 7:1:2 split is made
    again (`make_split` of `labels`, all one class when None, and `seed`) to see whether it
    leaves the same split empty."""
    empty = [name for name in ("val", "test") if split is None or name not in split]
    groups = np.asarray(groups)
    count = len(np.unique(groups))
    if empty and count >= len(SPLITS) * 2:
        labels = np.zeros(len(groups), np.int64) if labels is None else np.asarray(labels)
        again = make_split(labels, groups, seed=seed)
        empty = [name for name in empty if name not in again]
    if not empty:
        return ""
    names = " and ".join(empty)
    if count == len(groups):
        return f"{names} got no image: {count} images are too few to split 7:1:2"
    if count >= len(SPLITS) * 2:
        largest = int(np.unique(groups, return_counts=True)[1].max())
        return (
            f"{names} got no image because the {len(groups)} images belong to only {count} "
            f"groups (patient ids), the largest of {largest} images, and a split keeps each "
            "group whole: a grouped 7:1:2 split of so few groups (fewer still per class) "
            "leaves it none. Add patients, give the images their real patient ids (a "
            "manifest.csv `patient_id` column) or the split you want (a `split` column)"
        )
    return (
        f"{names} got no image because the {len(groups)} images belong to only "
        f"{count} group(s) (patient ids) and a split keeps each group whole (an anonymised "
        "export that gives every file one PatientID?): give each patient its own id (a "
        "manifest.csv `patient_id` column) or, if each image is its own patient, a manifest "
        "without that column"
    )


def grouping_note(data: ImageSet) -> str:
    """One sentence on what the split can promise about leakage for this set."""
    if len(data) and len(np.unique(data.groups)) == len(data):
        return (
            "Each image is its own group (the source names no patient, lesion or volume), so "
            "no image is in two splits (nor two identical copies of one), but near-duplicate "
            "images of one patient may be: "
            "leakage between them cannot be ruled out."
        )
    return "No group (patient, lesion or volume named by the source) is in two splits."

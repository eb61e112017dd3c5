"""What every recipe shares: the item list, the split, the writer of a prepared dataset.

A recipe only finds its files and labels (a list of `Item`); this module decodes, resizes with
`resize_to` (OpenCV, as the paper), writes 8-bit PNGs under `OUT/images/<class>/`, settles the
split (identical images kept in one split, as `assign_split` does; identical.py), checks
that no group (patient) is in two splits and writes `manifest.csv` and `prepare.json`. An
interrupted run resumes: PNGs already written with the same options are kept.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from gaunet.data.duplicates import DuplicateReport, pixel_digest
from gaunet.data.imageset import SPLITS
from gaunet.data.prepare import resize_to
from gaunet.data.readers.decode import IMAGE_SUFFIXES
from gaunet.data.recipes.identical import copies_record, identical_written, print_copies, read_png
from gaunet.data.splits import split_keeping_copies
from gaunet.errors import GaunetError
from gaunet.io import write_json
from gaunet.locking import LOCK_NAME, folder_lock
from gaunet.progress import progress

VAL_SHARE_OF_TRAIN = 0.125  # 7:1 train:val, as in the paper's 7:1:2
PNG_COMPRESS_LEVEL = 1  # lossless either way; level 1 encodes ~4x faster than the default 6


@dataclass
class Item:
    """One output image: its class, group (patient), official split if any, and how to read it."""

    label: str
    group: str
    name: str  # output file stem, unique within its class
    source: str  # what the user would look at if it fails (file, or file + position)
    load: Callable[[], np.ndarray]
    split: str | None = None  # official split, or None
    extra: str = ""  # recipe-specific manifest column (e.g. all labels of a multi-label row)


@dataclass
class PrepareOptions:
    """The options that decide the output; a resumed run must use the same ones."""

    size: int = 256
    channels: int = 3
    seed: int = 0
    resplit: bool = False
    recipe: dict = field(default_factory=dict)  # recipe-specific options, JSON-ready


def read_image(path: Path) -> np.ndarray:
    """Decode a 2D image file (PNG, JPEG, TIFF) to an (H, W[, C]) array with PIL."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
            image = image.convert("RGB")
        elif image.mode == "LA":
            image = image.convert("L")
        return np.asarray(image)


def file_loader(path: Path) -> Callable[[], np.ndarray]:
    return lambda: read_image(path)


def require(path: Path, what: str, layout: str) -> Path:
    """The path, or a GaunetError naming what is missing and the expected layout."""
    if not path.exists():
        raise GaunetError(f"missing {what}: {path}\nexpected layout:\n{layout.rstrip()}")
    return path


def safe_name(text: str) -> str:
    """A file-name stem that is safe on every file system (BUSI names have spaces, brackets)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "item"


def centred_crop(
    plane: np.ndarray, centre: tuple[int, int], shape: tuple[int, int], fill: float
) -> np.ndarray:
    """`shape` window of a 2D array centred on (row, col); parts outside the array are `fill`."""
    out = np.full(shape, fill, dtype=np.float32)
    top, left = centre[0] - shape[0] // 2, centre[1] - shape[1] // 2
    rows = slice(max(top, 0), min(top + shape[0], plane.shape[0]))
    cols = slice(max(left, 0), min(left + shape[1], plane.shape[1]))
    if rows.start < rows.stop and cols.start < cols.stop:
        out[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left] = plane[
            rows, cols
        ]
    return out


def window_to_uint8(values: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """CT values (HU) clipped to a display window and mapped linearly to 0-255."""
    lo, hi = window
    return np.rint((np.clip(values, lo, hi) - lo) / (hi - lo) * 255.0).astype(np.uint8)


def carve_val(
    labels: np.ndarray, groups: np.ndarray, seed: int, sets: Sequence[np.ndarray] = ()
) -> np.ndarray:
    """train/val names for the rows of an official train set: whole groups, class-stratified,
    each set of identical images (rows of these arrays) on one side."""
    ratios = (1.0 - VAL_SHARE_OF_TRAIN, VAL_SHARE_OF_TRAIN, 0.0)
    split = split_keeping_copies(labels, groups, list(sets), seed=seed, ratios=ratios)
    return np.where(split == "test", "train", split)


def settle_split(
    items: Sequence[Item],
    class_names: list[str],
    seed: int,
    resplit: bool,
    sets: Sequence[np.ndarray] = (),
):
    """Official test kept, val carved from official train; else (or resplit) a grouped 7:1:2.
    What gaunet assigns keeps each of `sets` (rows of identical images) in one split."""
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.asarray([index[item.label] for item in items], dtype=np.int64)
    groups = np.asarray([item.group for item in items])
    official = [item.split for item in items]
    named = sum(s is not None for s in official)
    if resplit or named < len(official):
        split = split_keeping_copies(labels, groups, list(sets), seed=seed)
        unused = f"; the official split names {named} of the {len(official)}, so it is unused"
        partial = 0 < named < len(official) and not resplit
        return split, "grouped stratified 7:1:2 (make_split)" + (unused if partial else "")
    split = np.asarray(official, dtype=object)
    train = split == "train"
    if train.any() and not (split == "val").any():
        rows = np.flatnonzero(train)
        inside = [np.searchsorted(rows, s[train[s]]) for s in sets if train[s].sum() > 1]
        split[train] = carve_val(labels[train], groups[train], seed, inside)
        return split.astype(str), "official train/test; val carved from train by group"
    return split.astype(str), "official"


def groups_in_two_splits(groups: Sequence[str], split: Sequence[str]) -> list[str]:
    """Groups that appear in more than one split (a leak), sorted."""
    seen: dict[str, set[str]] = {}
    for group, name in zip(groups, split, strict=True):
        seen.setdefault(group, set()).add(name)
    return sorted(g for g, names in seen.items() if len(names) > 1)


def count_table(labels: Sequence[str], split: Sequence[str], class_names: list[str]) -> str:
    """A small text table: classes down, train/val/test/total across."""
    counts = Counter(zip(labels, split, strict=True))
    width = max([len(c) for c in class_names] + [5])
    lines = [f"{'class':<{width}} " + " ".join(f"{s:>7}" for s in (*SPLITS, "total"))]
    for name in [*class_names, "total"]:
        row = [
            sum(n for (lab, s), n in counts.items() if s == sp and name in (lab, "total"))
            for sp in SPLITS
        ]
        lines.append(f"{name:<{width}} " + " ".join(f"{n:>7}" for n in (*row, sum(row))))
    return "\n".join(lines)


def _refuse_foreign(out: Path) -> None:
    """Refuse a non-empty --out that gaunet did not prepare (its lock file aside)."""
    others = [p for p in out.iterdir() if p.name != LOCK_NAME] if out.is_dir() else []
    if others and not (out / "prepare.json").exists():
        raise GaunetError(
            f"--out {out} is a non-empty folder gaunet did not prepare; use a new one"
        )


def _same_root(before: str | None, now: str) -> bool:
    """The same download folder, however it was named (relative, absolute, through a link)."""
    if before is None or before == now:
        return True
    try:
        return Path(before).samefile(now)
    except OSError:  # the old one is gone: not the same
        return False


def _start(out: Path, meta: dict, overwrite: bool) -> None:
    """Refuse to mix options in one folder; allow resuming an interrupted run with the same ones."""
    status_file = out / "prepare.json"
    _refuse_foreign(out)
    if status_file.exists():
        previous = json.loads(status_file.read_text())
        if overwrite:  # only what this module writes, so no stale image survives a redo
            (out / "manifest.csv").unlink(missing_ok=True)
            shutil.rmtree(out / "images", ignore_errors=True)
        elif previous.get("status") == "complete":
            raise GaunetError(f"{out} is already a prepared dataset; pass --overwrite to redo it")
        elif not _same_root(previous.get("root"), meta["root"]):  # its images would be kept
            raise GaunetError(
                f"{out} holds an interrupted run from another --root ({previous.get('root')}); "
                "continue it with that --root, or pass --overwrite or use another --out"
            )
        elif (previous.get("options"), previous.get("recipe")) != (meta["options"], meta["recipe"]):
            raise GaunetError(
                f"{out} holds an interrupted run with other options "
                f"({previous.get('options')}); pass --overwrite or use another --out"
            )
    out.mkdir(parents=True, exist_ok=True)
    write_json(status_file, {**meta, "status": "incomplete"})  # atomic: never torn


def _write_images(
    items: Sequence[Item], out: Path, recipe: str, options: PrepareOptions
) -> tuple[list[tuple[Item, str]], list[str], list[bytes | None]]:
    """Each item as an 8-bit PNG under out/images/<class>/: (item, relative path) per image
    written or already there, one line per input that could not be read, and the written
    images' `pixel_digest`s (to find identical images without holding them all)."""
    from PIL import Image

    written: list[tuple[Item, str]] = []
    problems: list[str] = []
    digests: list[bytes | None] = []
    used: set[str] = set()
    for item in progress(items, desc=f"prepare {recipe}", unit="img"):
        relative = _unique(f"images/{safe_name(item.label)}/{item.name}", used)
        target = out / relative
        if target.exists():  # written by an interrupted run, same options
            pixels = read_png(target)
        else:
            try:
                array = resize_to(item.load(), options.size, options.channels)
            except Exception as error:  # noqa: BLE001 - any unreadable input is skipped, named
                problems.append(f"{item.source}: {type(error).__name__}: {error}")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            pixels = array[0] if options.channels == 1 else array.transpose(1, 2, 0)
            partial = target.with_name(target.name + ".part")  # no output ends so: no clash
            Image.fromarray(pixels).save(partial, "PNG", compress_level=PNG_COMPRESS_LEVEL)
            partial.replace(target)
        written.append((item, relative))
        digests.append(pixel_digest(pixels))
    return written, problems, digests


def write_prepared(
    items: Sequence[Item],
    out: Path,
    recipe: str,
    root: Path,
    class_names: list[str],
    options: PrepareOptions,
    overwrite: bool = False,
    notes: Sequence[str] = (),
    extra_column: str = "",
) -> Path:
    """Convert every item, write manifest.csv and prepare.json, print the class-count table."""
    import gaunet

    if not items:
        raise GaunetError(f"{root}: no images found for {recipe}; see docs/datasets.md")
    meta = {
        "recipe": recipe,
        "root": str(root),
        "options": asdict(options),
        "gaunet_version": gaunet.__version__,
    }
    _refuse_foreign(out)  # before the lock: a folder of someone else's gets no lock file
    with folder_lock(out, "prepare"):  # a second writer into `out` is refused
        _start(out, meta, overwrite)
        return _write_prepared(
            items, out, recipe, root, class_names, options, notes, extra_column, meta
        )


def _write_prepared(
    items, out, recipe, root, class_names, options, notes, extra_column, meta
) -> Path:
    """write_prepared() once this process alone writes `out`."""
    written, problems, digests = _write_images(items, out, recipe, options)
    if not written:
        raise GaunetError(f"{root}: none of the {len(items)} images could be read: {problems[0]}")
    kept = [item for item, _ in written]
    present = [c for c in class_names if any(item.label == c for item in kept)]
    files = [relative for _, relative in written]
    sets = identical_written(out, files, digests)
    split, split_rule = settle_split(kept, present, options.seed, options.resplit, sets)
    leaks = groups_in_two_splits([item.group for item in kept], split)
    _write_manifest(out, written, split, extra_column)
    labels = [item.label for item in kept]
    copies = DuplicateReport.of(sets, np.asarray(labels), np.asarray(split))
    pairs = Counter(zip(labels, split, strict=True))
    counts = {name: {s: pairs[(name, s)] for s in SPLITS} for name in present}
    meta.update(
        status="complete",
        split_rule=split_rule,
        counts=counts,
        images=len(kept),
        groups=len({item.group for item in kept}),
        groups_in_two_splits=leaks,
        identical_images=copies_record(copies, files, np.asarray(split)),
        skipped=problems,
        notes=list(notes),
    )
    write_json(out / "prepare.json", meta)
    _print_summary(out, recipe, labels, split, present, split_rule, leaks, problems, notes)
    print_copies(meta["identical_images"])
    return out


def _unique(stem: str, used: set[str]) -> str:
    """`stem.png`, or `stem-2.png`... when two inputs map to one safe name."""
    candidate, count = f"{stem}.png", 1
    while candidate in used:
        count += 1
        candidate = f"{stem}-{count}.png"
    used.add(candidate)
    return candidate


def _write_manifest(out: Path, written, split, extra_column: str) -> None:
    header = ["path", "label", "patient_id", "split"] + ([extra_column] if extra_column else [])
    partial = out / "manifest.csv.part"
    with open(partial, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for (item, relative), name in zip(written, split, strict=True):
            row = [relative, item.label, item.group, name]
            writer.writerow(row + ([item.extra] if extra_column else []))
    partial.replace(out / "manifest.csv")


def _print_summary(out, recipe, labels, split, class_names, rule, leaks, problems, notes) -> None:
    print(f"{recipe}: {len(labels)} images written to {out} (split: {rule})")
    print(count_table(labels, split, class_names))
    for note in notes:
        print(f"note: {note}")
    if leaks:
        print(
            f"warning: {len(leaks)} groups are in more than one split (e.g. {leaks[0]}); "
            "the official split is not patient-level. Pass --resplit for a grouped split."
        )
    if problems:
        print(f"skipped {len(problems)} unreadable files:")
        for line in problems[:10]:
            print(f"  {line}")
        if len(problems) > 10:
            print(f"  ... and {len(problems) - 10} more (all listed in {out / 'prepare.json'})")


@dataclass
class Collected:
    """What a recipe found: items, class names in output order, notes for the user."""

    items: list[Item]
    class_names: list[str]
    notes: list[str]
    extra_column: str = ""


def class_folder_items(
    folder: Path,
    class_names: Sequence[str],
    group_of: Callable[[Path], str],
    split: str | None = None,
    suffixes: Sequence[str] = IMAGE_SUFFIXES,
    skip: Callable[[Path], bool] = lambda path: False,
    prefix: str = "",
    ignored: list[Path] | None = None,
) -> list[Item]:
    """Items from `folder/<class>/<file>` trees (NCT-CRC, OCT2017, chest X-ray, BUSI); other
    entries (not `skip`ped, not hidden: sub-folders, other formats) are added to `ignored`."""
    items = []
    for name in class_names:
        files = sorted((folder / name).iterdir()) if (folder / name).is_dir() else []
        for path in files:
            if path.suffix.lower() not in suffixes or not path.is_file() or skip(path):
                if ignored is not None and not (path.name.startswith(".") or skip(path)):
                    ignored.append(path)
                continue
            items.append(
                Item(
                    label=name,
                    group=group_of(path),
                    name=safe_name(prefix + path.stem),
                    source=str(path),
                    load=file_loader(path),
                    split=split,
                )
            )
    return items


def read_prepared_manifest(folder: Path) -> list[dict[str, str]]:
    """The rows of a prepared dataset's manifest.csv (path, label, patient_id, split, ...)."""
    with open(Path(folder) / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))

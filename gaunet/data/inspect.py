"""`gaunet data inspect SOURCE`: what a source holds before any training starts.

It loads the source exactly as training will (same size, channels, cache), assigns the split
training would get (the official one when present, else the seeded grouped 7:1:2 split), and
reports class counts per split, image sizes and modes seen, groups, and every skipped file.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from gaunet.data.imageset import SPLITS, ImageSet
from gaunet.data.readers.items import safe_text

SHEET_SAMPLES = 8
SHEET_TILE = 96
SHEET_NAME = "sheet.png"  # the file `--sheet DIR/` writes in DIR


def add_inspect_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `gaunet data inspect` under the `gaunet data` parser."""
    from gaunet.cli import size_help, user_path  # the CLI's one --size rule, ~ paths

    parser = subparsers.add_parser(
        "inspect",
        help="class counts per split, image sizes/modes, groups, problems and copies of a SOURCE",
        description=(
            "Load SOURCE as training would and report class counts per split (official split "
            "when the source has one, else the seeded grouped 7:1:2 split), image sizes and "
            "modes seen, group (patient) count, every file that was skipped and why, and the "
            "sets of identical images (how many; each set that crosses the split or carries two "
            "classes). "
            "SOURCE: phantom[:n=,classes=,seed=], a MedMNIST .npz, a class-folder tree "
            "root/<class>/<image>, a folder with manifest.csv, or a manifest .csv "
            "(path,label[,patient_id][,split]) listing images, DICOM or NIfTI files."
        ),
    )
    parser.add_argument("source", metavar="SOURCE", help="what to read (see above)")
    parser.add_argument("--size", type=int, default=256, help=size_help())
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3), help="1 keeps grey")
    parser.add_argument("--seed", type=int, default=0, help="seed of the assigned split")
    parser.add_argument(
        "--window",
        metavar="C,W",
        help="DICOM/NIfTI/16-bit PNG+TIFF intensity window center,width (e.g. 40,400)",
    )
    parser.add_argument(
        "--skip-blank-slices", action="store_true", help="leave out near-empty NIfTI slices"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument(
        "--sheet",
        metavar="FILE",
        type=user_path,
        help=(
            "write a contact sheet PNG (row per class) to FILE; FILE an existing directory or "
            f"ending in '/': {SHEET_NAME} inside it (created)"
        ),
    )
    parser.set_defaults(func=run_inspect)


def summarize(data: ImageSet, seed: int = 0) -> dict:
    """The facts `inspect` prints, as a JSON-able dict (the split is assigned if missing)."""
    from gaunet.data.duplicates import blank_count, duplicate_sets
    from gaunet.data.splits import split_keeping_copies

    official = data.split is not None
    sets = duplicate_sets(data.images)  # once: for the split and for the report
    if official:
        split = data.split
    else:
        split = split_keeping_copies(data.labels, data.groups, sets, seed=seed)
    counts = {
        name: {
            cls: int(np.sum((split == name) & (data.labels == k)))
            for k, cls in enumerate(data.class_names)
        }
        for name in SPLITS
    }
    counts["total"] = data.class_counts()
    return {
        "source": safe_text(data.source),
        "kind": data.info.get("kind", ""),
        "images": len(data),
        "classes": list(data.class_names),
        "counts": counts,
        "split": "official" if official else f"assigned (grouped stratified 7:1:2, seed {seed})",
        "groups": int(len(np.unique(data.groups))),
        "size": data.size,
        "channels": data.channels,
        "sizes": data.info.get("sizes", {}),
        "modes": data.info.get("modes", {}),
        "skipped": len(data.problems),
        "problems": [{"path": p.path, "reason": p.reason} for p in data.problems],
        "notes": data.info.get("notes", {}),
        "duplicates": duplicates_summary(data, split, sets),
        "blank_images": blank_count(data.images),  # of one value: never counted as copies
        "cache": data.info.get("cache"),
        "empty_split": _empty_split(data, split, official, seed),
    }


def _empty_split(data: ImageSet, split: np.ndarray, official: bool, seed: int) -> str:
    """Which of val and test got no image and why, "" when neither: the source's own split,
    else the cause `empty_split_cause` finds in the groups."""
    from gaunet.data.splits import empty_split_cause

    empty = " and ".join(name for name in ("val", "test") if name not in split)
    if not empty:
        return ""
    if official:  # the source chose it: its groups are no reason
        return f"{empty} got no image in the source's own split"
    cause = empty_split_cause(split, data.groups, data.labels, seed=seed)
    return cause or f"{empty} got no image in the grouped 7:1:2 split (seed {seed})"


def duplicates_summary(data: ImageSet, split: np.ndarray, sets: list[np.ndarray]) -> dict:
    """Identical images (`duplicate_sets`' sets): how many sets, the sets crossing splits and
    those with two classes, each set as its files (ids for array sources)."""
    from gaunet.data.duplicates import DuplicateReport

    report = DuplicateReport.of(sets, data.labels, split)
    shown = {int(i) for rows in report.across_splits + report.conflicting for i in rows}
    names = _file_names(data, [str(data.ids[i]) for i in sorted(shown)])

    def described(rows: np.ndarray) -> list[dict]:
        return [
            {
                "file": names.get(str(data.ids[i]), str(data.ids[i])),
                "class": data.class_names[int(data.labels[i])],
                "split": str(split[i]),
            }
            for i in rows
        ]

    return {
        "sets": len(report.sets),
        "images": report.images,
        "across_splits": [described(rows) for rows in report.across_splits],
        "conflicting_classes": [described(rows) for rows in report.conflicting],
    }


def _file_names(data: ImageSet, ids: list[str]) -> dict[str, str]:
    """Opaque id -> file (relative path) for a file source; {} for arrays (their ids are
    clear) or a source that cannot be listed again."""
    from gaunet.data.ids import lookup

    if not ids or not data.source or not Path(data.source).expanduser().exists():
        return {}
    try:
        return lookup(data.source, ids)
    except Exception:  # an array file or a changed folder: the ids are shown instead
        return {}


def _sizes_line(sizes: dict[str, int]) -> str:
    if len(sizes) <= 4:
        return ", ".join(f"{k} ({v})" for k, v in sizes.items())
    dims = [tuple(int(d) for d in k.split("x")[:2]) for k in sizes]
    common = ", ".join(f"{k} ({v})" for k, v in Counter(sizes).most_common(3))
    return (
        f"{len(sizes)} different, width {min(d[0] for d in dims)}-{max(d[0] for d in dims)}, "
        f"height {min(d[1] for d in dims)}-{max(d[1] for d in dims)}; most common {common}"
    )


def format_report(summary: dict) -> str:
    """The human-readable table."""
    classes = summary["classes"]
    width = max(8, *(len(c) for c in classes))
    lines = [
        f"source   {summary['source']} ({summary['kind']})",
        f"images   {summary['images']} at {summary['size']}x{summary['size']}, "
        f"{summary['channels']} channel(s); {summary['groups']} groups",
        f"split    {summary['split']}",
        "",
        f"{'class':<{width}}  " + "  ".join(f"{s:>6}" for s in (*SPLITS, "total")),
    ]
    for cls in classes:
        cells = [summary["counts"][s][cls] for s in (*SPLITS, "total")]
        lines.append(f"{cls:<{width}}  " + "  ".join(f"{c:>6}" for c in cells))
    totals = [sum(summary["counts"][s].values()) for s in (*SPLITS, "total")]
    lines.append(f"{'all':<{width}}  " + "  ".join(f"{c:>6}" for c in totals))
    lines += ["", f"sizes    {_sizes_line(summary['sizes'])}"]
    lines.append("modes    " + ", ".join(f"{k} ({v})" for k, v in summary["modes"].items()))
    lines.append(f"problems {summary['skipped']} file(s) skipped")
    lines += [f"  {p['path']}: {p['reason']}" for p in summary["problems"]]
    lines += [f"note     {n} image(s): {note}" for note, n in summary.get("notes", {}).items()]
    if summary.get("empty_split"):
        lines.append(f"warning  {summary['empty_split']}")
    return "\n".join(lines + _duplicate_lines(summary))


def _duplicate_lines(summary: dict) -> list[str]:
    found = summary.get("duplicates") or {}
    blank = summary.get("blank_images", 0)
    # images of one value are never counted as copies (duplicate_sets): say so, not "none"
    unseen = f" (not counting {blank} blank images of one value)" if blank > 1 else ""
    if not found.get("sets"):
        return [f"copies   no two images are identical{unseen}"]
    official = summary["split"] == "official"
    where = (
        f"{len(found['across_splits'])} of them span the official splits"
        if official
        else "each kept within one split"
    )
    lines = [
        f"copies   {found['sets']} set(s) of identical images ({found['images']}){unseen}: {where}"
    ]
    if official and found["across_splits"]:
        splits = [{r["split"] for r in rows} for rows in found["across_splits"]]
        why = []
        if any("train" in s for s in splits):
            why.append(
                "a test or val image identical to a training image is tested on what was learnt"
            )
        if any("train" not in s for s in splits):
            why.append("an image in both val and test is tested on what chose the model")
        lines.append(
            f"  {'; '.join(why)}; leave one copy out (gaunet evaluate's copy audit leaves test "
            "images identical to a training image out of its threshold):"
        )
        lines += _copies_lines(found["across_splits"])
    if found["conflicting_classes"]:
        lines.append(
            f"  WARNING {len(found['conflicting_classes'])} set(s) hold one image under two "
            "classes: no classifier can get both right; check the labels and remove the wrong "
            "copy:"
        )
        lines += _copies_lines(found["conflicting_classes"])
    return lines


def _copies_lines(sets: list[list[dict]], shown: int = 10) -> list[str]:
    lines = [
        "  " + " = ".join(f"{r['file']} ({r['class']}, {r['split']})" for r in rows)
        for rows in sets[:shown]
    ]
    more = len(sets) - shown
    return lines + ([f"  ... and {more} more (--json lists every one)"] if more > 0 else [])


def write_sheet(data: ImageSet, path: Path, seed: int = 0) -> None:
    """A PNG with one row of up to 8 random samples per class, class name at the left."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    # each row labelled `k name`: the default font draws letters outside ASCII as boxes, and
    # the number keeps two such classes apart (the order of `data inspect`'s counts)
    labels = [f"{k} {name}" for k, name in enumerate(data.class_names)]
    label_width = 10 + 7 * max(len(c) for c in labels)
    sheet = Image.new(
        "RGB",
        (label_width + SHEET_SAMPLES * SHEET_TILE, data.num_classes * SHEET_TILE),
        "white",
    )
    draw = ImageDraw.Draw(sheet)
    for k, name in enumerate(labels):
        top = k * SHEET_TILE
        draw.text((5, top + SHEET_TILE // 2 - 6), name, fill="black")
        members = np.flatnonzero(data.labels == k)
        chosen = rng.choice(members, size=min(SHEET_SAMPLES, len(members)), replace=False)
        for column, index in enumerate(sorted(chosen)):
            pixels = data.images[index].transpose(1, 2, 0)
            tile = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
            tile = tile.convert("RGB").resize((SHEET_TILE - 2, SHEET_TILE - 2))
            sheet.paste(tile, (label_width + column * SHEET_TILE + 1, top + 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, format="PNG")  # whatever the name ends in


def sheet_path(given: str) -> Path:
    """Where `--sheet` writes: the file named, or SHEET_NAME inside a directory (one that
    exists, or a name ending in a separator: Path() drops it, and the sheet became a file
    named like the directory)."""
    separators = tuple(sep for sep in (os.sep, os.altsep) if sep)
    path = Path(given)
    return path / SHEET_NAME if given.endswith(separators) or path.is_dir() else path


def run_inspect(args: argparse.Namespace) -> int:
    from gaunet.data.sources import load_source, parse_window

    data = load_source(
        args.source,
        size=args.size,
        channels=args.channels,
        window=parse_window(args.window),
        skip_blank=args.skip_blank_slices,
    )
    summary = summarize(data, seed=args.seed)
    if args.sheet:
        path = sheet_path(args.sheet)
        write_sheet(data, path, seed=args.seed)
        summary["sheet"] = str(path)
    if args.json:
        print(json.dumps(summary, indent=None))
    else:
        print(format_report(summary))
        if args.sheet:
            print(f"sheet    {summary['sheet']}")
    return 0

"""From a list of labelled files to an ImageSet: decode, resize, skip-and-count, cache.

Folder trees and manifests only decide *which* files carry *which* label; this module does the
rest the same way for both, so every source gets the same bad-input handling and cache.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaunet.data.cache import cache_key, cache_path, load_cached, save_cached
from gaunet.data.ids import dataset_salt, opaque_array
from gaunet.data.imageset import ImageSet, Problem
from gaunet.errors import GaunetError


class SourceError(GaunetError, ValueError):
    """A source that cannot be used at all; the message names the file and the problem."""


@dataclass(frozen=True)
class ReadOptions:
    """Reader settings that change pixels, hence part of the cache key.

    window: (center, width) for DICOM, NIfTI and 16-bit PNG/TIFF intensities; None uses the
    file's own window (DICOM), the volume's 0.5-99.5 percentile range (NIfTI) or the bit depth
    the values use (16-bit images). skip_blank: drop near-empty slices.
    """

    size: int = 256
    channels: int = 3
    window: tuple[float, float] | None = None
    skip_blank: bool = False


@dataclass(frozen=True)
class Item:
    """One labelled file (or one slice of a volume when `slice_index` is set)."""

    path: Path
    item_id: str
    class_name: str
    group: str | None = None
    split: str | None = None
    slice_index: int | None = None


@dataclass
class Frame:
    """One decoded 2D image from a file: uint8 (C, S, S), plus what the file looked like."""

    image: np.ndarray
    suffix: str = ""
    group: str | None = None
    mode: str = ""
    shape: str = ""
    note: str = ""  # something the user should know about this image (no file names)


def safe_text(text: str) -> str:
    """Printable on one line: non-UTF-8 bytes as \\xNN, control characters as \\n, \\t, ..."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class SkipFile(Exception):
    """Raised by decoders: this file is skipped, the message says why."""


def _identity(items: list[Item], options: ReadOptions) -> list:
    rows = []
    for item in items:
        try:
            stat = item.path.stat()
            stamp = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            stamp = None
        rows.append(
            (str(item.path), item.item_id, item.class_name, item.group, item.split,
             item.slice_index, stamp)
        )  # fmt: skip
    return [rows, options.window, options.skip_blank]


def _decode_one(item: Item, options: ReadOptions) -> list[Frame] | Problem:
    from gaunet.data.readers.decode import decode_file

    try:
        return decode_file(item.path, options, item.slice_index)
    except SkipFile as error:
        return Problem(safe_text(str(item.path)), safe_text(str(error)))
    except MemoryError:
        return Problem(safe_text(str(item.path)), "too large to decode in memory")


def _decode_all(items: list[Item], options: ReadOptions, desc: str) -> list:
    from gaunet.progress import progress

    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool, progress(total=len(items), desc=desc) as bar:
        results = []
        for result in pool.map(lambda item: _decode_one(item, options), items):
            results.append(result)
            bar.update(1)
    return results


def build_imageset(
    items: list[Item],
    class_names: list[str],
    options: ReadOptions,
    source: str,
    kind: str,
    problems: list[Problem] | None = None,
    min_per_class: int = 0,
    clear_ids: bool = False,
) -> ImageSet:
    """Decode `items` (cached), skip bad files, and return the ImageSet.

    Classes with fewer than `min_per_class` usable images are dropped with a problem line
    (a class-folder tree asks for 2: one image cannot form a same-class pair). Ids and groups
    become salted hashes (gaunet.data.ids) unless `clear_ids` (gaunet's own generated folders,
    whose paths are `class/000123.png`).
    """
    problems = list(problems or [])
    scan_problems = list(problems)
    identity = [kind, source, class_names, [str(p) for p in problems], min_per_class, clear_ids]
    key = cache_key(identity + _identity(items, options))
    path = cache_path(kind, Path(source).name, key, options.size, options.channels)
    cached = load_cached(path, [str(item.path) for item in items], scan_problems)
    if cached is not None:
        cached.info["cache"] = str(path)
        return cached
    results = _decode_all(items, options, desc=f"decoding {Path(source).name}")
    images, labels, groups, ids, splits = [], [], [], [], []
    modes: Counter = Counter()
    shapes: Counter = Counter()
    notes: Counter = Counter()
    skipped_items: list[int] = []  # item index of each decode problem, for the cache
    index = {name: i for i, name in enumerate(class_names)}
    for number, (item, result) in enumerate(zip(items, results)):
        if isinstance(result, Problem):
            problems.append(result)
            skipped_items.append(number)
            continue
        for frame in result:
            images.append(frame.image)
            labels.append(index[item.class_name])
            groups.append(item.group or frame.group or item.item_id)
            ids.append(item.item_id + frame.suffix)
            splits.append(item.split)
            modes[frame.mode] += 1
            shapes[frame.shape] += 1
            if frame.note:
                notes[frame.note] += 1
    labels_arr = np.asarray(labels, dtype=np.int64)
    keep_classes = list(range(len(class_names)))
    if min_per_class:
        counts = np.bincount(labels_arr, minlength=len(class_names))
        for c in np.flatnonzero(counts < min_per_class):
            problems.append(
                Problem(
                    f"{source}/{class_names[c]}",
                    f"class folder has {counts[c]} usable image(s); at least {min_per_class} "
                    "are needed to form a same-class pair, so the class is left out",
                )
            )
        keep_classes = [c for c in keep_classes if counts[c] >= min_per_class]
    if not labels or not keep_classes:
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise SourceError(f"{source}: nothing usable found" + (f": {shown}{more}" if shown else ""))
    remap = np.full(len(class_names), -1, dtype=np.int64)
    remap[keep_classes] = np.arange(len(keep_classes))
    rows = remap[labels_arr] >= 0
    has_split = all(s is not None for s in splits)
    if not clear_ids:  # file names and patient ids never leave this function in clear
        salt = dataset_salt(item.item_id for item in items)
        ids, groups = opaque_array(salt, ids), opaque_array(salt, groups, "group")
    info = {"kind": kind, "sizes": dict(shapes), "modes": dict(modes)}
    if notes:
        info["notes"] = dict(notes)
    data = ImageSet(
        images=np.stack([image for image, keep in zip(images, rows) if keep]),
        labels=remap[labels_arr][rows],
        class_names=[class_names[c] for c in keep_classes],
        groups=np.asarray(groups, dtype=str)[rows],
        ids=np.asarray(ids, dtype=str)[rows],
        split=np.asarray(splits, dtype=str)[rows] if has_split else None,
        problems=problems,
        source=source,
        info=info,
    )
    file_paths = [str(item.path) for item in items]
    save_cached(path, data, scan_problems, skipped_items, file_paths)
    if path is not None:
        data.info["cache"] = str(path)
    return data

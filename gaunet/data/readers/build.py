"""From a list of labelled files to an ImageSet: decode, resize, skip-and-count, cache.

Folder trees and manifests only decide *which* files carry *which* label; this module does the
rest the same way for both, so every source gets the same bad-input handling and cache.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gaunet.data.cache import cache_key, cache_path, load_cached, save_cached
from gaunet.data.ids import dataset_salt, opaque_array
from gaunet.data.imageset import ImageSet, Problem
from gaunet.data.readers.decode import decode_file
from gaunet.data.readers.items import Frame, Item, ReadOptions, SkipFile, SourceError, safe_text


def _identity(items: list[Item], options: ReadOptions) -> list:
    rows = []
    for item in items:
        try:
            stat = item.path.stat()  # ctime and inode: `cp -p` keeps size and mtime, and
            stamp = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)  # chmod too
        except OSError:
            stamp = None
        rows.append(
            (str(item.path), item.item_id, item.class_name, item.group, item.split,
             item.slice_index, stamp)
        )  # fmt: skip
    return [rows, options.window, options.skip_blank, _decoders()]


DICOM_CODECS = ("pylibjpeg", "libjpeg", "openjpeg", "rle", "gdcm", "jpeg_ls")


def _decoders() -> list:
    """What decides whether a file can be decoded besides the file: Pillow's pixel limit and
    the DICOM codecs installed. A file skipped for either is decoded again once the user
    raises the limit or installs a codec, as the skip message says to (not read back as
    skipped from the cache)."""
    from importlib.util import find_spec

    from PIL import Image

    return [Image.MAX_IMAGE_PIXELS, [name for name in DICOM_CODECS if find_spec(name)]]


def _decode_one(item: Item, options: ReadOptions) -> list[Frame] | Problem:
    try:
        return decode_file(item.path, options, item.slice_index)
    except SkipFile as error:
        return Problem(safe_text(str(item.path)), safe_text(str(error)))
    except MemoryError:
        return Problem(safe_text(str(item.path)), "too large to decode in memory")


def _decode_all(items: list[Item], options: ReadOptions, desc: str) -> list:
    from gaunet.cpu_load import usable_cpus
    from gaunet.progress import progress

    # the CPUs this process may use (affinity, a container's limit), not the machine's
    workers = max(1, min(4, usable_cpus()))
    with ThreadPoolExecutor(workers) as pool, progress(total=len(items), desc=desc) as bar:
        results = []
        for result in pool.map(lambda item: _decode_one(item, options), items):
            results.append(result)
            bar.update(1)
    return results


@dataclass
class _Frames:
    """Every decoded frame's columns, in item order, and what the files looked like."""

    images: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    splits: list[str | None] = field(default_factory=list)
    modes: Counter = field(default_factory=Counter)
    shapes: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    skipped_items: list[int] = field(default_factory=list)  # item index of each decode problem
    depths: list[int] = field(default_factory=list)  # Frame.depth of each frame
    ranges: list = field(default_factory=list)  # Frame.value_range of each frame


# Segmentation datasets keep masks beside their images (BUSI: "benign (12)_mask.png"): read
# from a class folder they are images of the class, each its own group, so a mask and its
# image may land in different splits. Said in one note line; which files are read is unchanged.
MASK_NOTE = (
    "file name has '_mask': read as an image of its class; if these are segmentation masks, "
    "move them out (`gaunet data prepare busi` leaves BUSI's out)"
)


def _collect(items: list[Item], results: list, class_names: list[str], problems: list) -> _Frames:
    """One row per frame; a file that could not be decoded adds its problem to `problems`."""
    frames = _Frames()
    index = {name: i for i, name in enumerate(class_names)}
    for number, (item, result) in enumerate(zip(items, results)):
        if isinstance(result, Problem):
            problems.append(result)
            frames.skipped_items.append(number)
            continue
        for frame in result:
            frames.images.append(frame.image)
            frames.labels.append(index[item.class_name])
            frames.groups.append(item.group or frame.group or item.item_id)
            frames.ids.append(item.item_id + frame.suffix)
            frames.splits.append(item.split)
            frames.modes[frame.mode] += 1
            frames.shapes[frame.shape] += 1
            frames.depths.append(frame.depth)
            frames.ranges.append(frame.value_range)
            if frame.note:
                frames.notes[frame.note] += 1
            if "_mask" in item.path.stem.lower():
                frames.notes[MASK_NOTE] += 1
    one_depth(frames)
    one_range(frames)
    return frames


def one_depth(frames: _Frames) -> None:
    """16-bit images of one source scaled by one depth, the deepest any of them uses: each
    file was scaled by its own (a 14-bit set whose darker images stay under 4096 would give
    those 4x the brightness of the rest), so relative brightness between images is kept."""
    depths = np.asarray(frames.depths)
    deepest = int(depths.max(initial=0))
    if not deepest:
        return
    for i in np.flatnonzero((depths > 0) & (depths < deepest)):
        factor = (2 ** int(depths[i]) - 1) / (2**deepest - 1)
        frames.images[i] = np.rint(frames.images[i] * factor).astype(np.uint8)
    if deepest <= 12:  # under 1/16 of the 0..65535 range
        note = f"16-bit image uses only 0..{2**deepest - 1} of 0..65535: scaled as {deepest}-bit"
        frames.notes[note] += int((depths > 0).sum())


def one_range(frames: _Frames) -> None:
    """Float and signed-integer images of one source (float or int16 TIFF: CT in HU, a
    microscope's counts) mapped from one range, the lowest to the highest value any of them
    holds: each was stretched to its own, so a dark image came out as bright as the rest
    (as 16-bit images did before one_depth, and .npz arrays before their one scale)."""
    rows = [i for i, bounds in enumerate(frames.ranges) if bounds is not None]
    if not rows:
        return
    low = min(frames.ranges[i][0] for i in rows)
    high = max(frames.ranges[i][1] for i in rows)
    for i in rows:
        lo, hi = frames.ranges[i]
        if (lo, hi) == (low, high) or high <= low:
            continue
        values = lo + frames.images[i].astype(np.float64) / 255.0 * (hi - lo)
        scaled = np.rint((values - low) / (high - low) * 255.0)
        frames.images[i] = np.clip(scaled, 0, 255).astype(np.uint8)
    note = f"float or signed-integer image: the source's range {low:g}..{high:g} shown as 0..255"
    frames.notes[note] += len(rows)


# The one rule for tiny class folders, whoever wrote them (a class-folder tree, or a
# `gaunet generate` folder, whose manifest only labels its class folders): training needs a
# same-class pair of two different images, and `gaunet evaluate` must treat a synthetic folder
# the same whichever way it was written (issue 30).
MIN_PER_CLASS = 2


def class_minimum(kind: str, generated: bool = False) -> int:
    """Fewest usable images a class keeps when read: MIN_PER_CLASS for class folders (a
    class-folder tree, `kind` "folder", or a `gaunet generate` folder, `generated`); 0 for a
    hand-written manifest, whose integer labels are class indices kept as they are, even for a
    class of one image (gaunet.data.readers.manifest)."""
    return MIN_PER_CLASS if kind == "folder" or generated else 0


def _kept_classes(
    labels: np.ndarray, class_names: list[str], min_per_class: int, source: str, problems: list
) -> list[int]:
    """The classes with at least `min_per_class` images; each one left out is a problem."""
    keep = list(range(len(class_names)))
    if not min_per_class:
        return keep
    counts = np.bincount(labels, minlength=len(class_names))
    for c in np.flatnonzero(counts < min_per_class):
        problems.append(
            Problem(
                f"{source}/{class_names[c]}",
                f"class has {counts[c]} usable image(s); at least {min_per_class} are needed "
                "(a same-class pair to train on), so the class is left out",
            )
        )
    return [c for c in keep if counts[c] >= min_per_class]


def _nothing_usable(source: str, problems: list[Problem]) -> SourceError:
    shown = "; ".join(str(p) for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return SourceError(f"{source}: nothing usable found" + (f": {shown}{more}" if shown else ""))


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
    (`class_minimum` says how many for which source). Ids and groups
    become salted hashes (gaunet.data.ids) unless `clear_ids` (gaunet's own generated folders,
    whose paths are `class/000123.png`).
    """
    problems = list(problems or [])
    scan_problems = list(problems)
    identity = [kind, source, class_names, [str(p) for p in problems], min_per_class, clear_ids]
    key = cache_key(identity + _identity(items, options))
    other = [options.window, options.skip_blank]  # read two ways: two entries, both kept
    varied = other if other != [None, False] else None
    path = cache_path(kind, source, key, options.size, options.channels, varied)
    file_paths = [str(item.path) for item in items]
    lookup = load_cached(path, file_paths, scan_problems)
    if lookup.data is not None:
        lookup.data.info["cache"] = str(path)
        return lookup.data
    results = _decode_all(items, options, desc=f"decoding {Path(source).name}")
    frames = _collect(items, results, class_names, problems)
    labels = np.asarray(frames.labels, dtype=np.int64)
    keep_classes = _kept_classes(labels, class_names, min_per_class, source, problems)
    if not frames.labels or not keep_classes:
        raise _nothing_usable(source, problems)
    ids, groups = frames.ids, frames.groups
    if not clear_ids:  # file names and patient ids never leave this function in clear
        salt = dataset_salt(item.item_id for item in items)
        ids, groups = opaque_array(salt, ids), opaque_array(salt, groups, "group")
    remap = np.full(len(class_names), -1, dtype=np.int64)
    remap[keep_classes] = np.arange(len(keep_classes))
    rows = remap[labels] >= 0
    has_split = all(s is not None for s in frames.splits)
    info = {"kind": kind, "sizes": dict(frames.shapes), "modes": dict(frames.modes)}
    if frames.notes:
        info["notes"] = dict(frames.notes)
    data = ImageSet(
        images=np.stack([image for image, keep in zip(frames.images, rows) if keep]),
        labels=remap[labels][rows],
        class_names=[class_names[c] for c in keep_classes],
        groups=np.asarray(groups, dtype=str)[rows],
        ids=np.asarray(ids, dtype=str)[rows],
        split=np.asarray(frames.splits, dtype=str)[rows] if has_split else None,
        problems=problems,
        source=source,
        info=info,
    )
    if save_cached(lookup, data, scan_problems, frames.skipped_items, file_paths):
        data.info["cache"] = str(path)  # only an entry that is there (not written: no cache)
    return data

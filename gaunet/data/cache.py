"""The decoded-array cache: decode and resize a file source once per (source, size, channels).

Key: a hash of everything that changes the result (the readers' own code, the file list with
each file's size, mtime, ctime and inode, labels, size, channels, reader options), so an
edited, added or removed file, or another gaunet, makes a new entry instead of a stale hit.
Saving an entry removes the older entries of the same source at the same size and channels
(and temporaries a killed write left over a day ago), so the cache does not grow with edits. Entries are uncompressed .npz written atomically
(gaunet.io.write_npz), so an interrupted write never leaves a half file under the real name; a
file that does not load is ignored and rebuilt.

Entries hold no file name or patient id in clear: ids and groups are already opaque
(gaunet.data.ids), and a skipped file is stored as its index in the source's file list (its
reason with the path masked), rebuilt into a path from the list on load.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from gaunet.data.imageset import ImageSet, Problem
from gaunet.data.readers.items import safe_text
from gaunet.io import write_npz

CACHE_VERSION = 3  # 2: opaque ids and groups, no file names; 3: the readers' code in the key
STALE_TEMPORARY_SECONDS = 24 * 3600


@lru_cache(maxsize=1)
def reader_fingerprint() -> str:
    """A digest of the code that turns files into pixels (readers/, prepare.py): a gaunet
    that decodes otherwise never reads an entry an older one wrote."""
    digest = hashlib.sha256()
    data = Path(__file__).parent
    for path in sorted([*(data / "readers").glob("*.py"), data / "prepare.py"]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path | None:
    """$GAUNET_CACHE, else ~/.cache/gaunet; None when GAUNET_NO_CACHE=1."""
    if os.environ.get("GAUNET_NO_CACHE", "") == "1":
        return None
    root = os.environ.get("GAUNET_CACHE") or Path.home() / ".cache" / "gaunet"
    return Path(root)


def cache_key(identity: object) -> str:
    """A short hex digest of a JSON-able description of the source."""
    text = json.dumps([CACHE_VERSION, reader_fingerprint(), identity], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cache_path(kind: str, source: str, key: str, size: int, channels: int) -> Path | None:
    """`KIND-NAME-WHERE-Spx-Cch-KEY.npz`: NAME the source's own name, WHERE a digest of its
    absolute path (two sources of one name are two sets of entries), KEY its content's."""
    root = cache_dir()
    if root is None:
        return None
    name = Path(source).name
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40] or "source"
    where = hashlib.sha256(os.path.abspath(os.path.expanduser(source)).encode()).hexdigest()[:8]
    return root / f"{kind}-{safe}-{where}-{size}px-{channels}ch-{key}.npz"


def _mask(reason: str, path: str) -> str:
    """The reason with the file's path and name replaced by markers (restored by _unmask)."""
    shown = safe_text(path)
    return reason.replace(shown, "\x00P").replace(safe_text(Path(path).name), "\x00N")


def _unmask(reason: str, path: str) -> str:
    return reason.replace("\x00P", safe_text(path)).replace("\x00N", safe_text(Path(path).name))


def load_cached(
    path: Path | None, file_paths: list[str], scan_problems: list[Problem]
) -> ImageSet | None:
    """The cached ImageSet, or None when absent or unreadable (then it is rebuilt).

    file_paths: the source's files in item order; scan_problems: the problems found while
    listing them (not stored: they are found again before the cache is looked up).
    """
    if path is None:
        return None
    try:  # an unreadable cache folder (another user's, no permission) only costs speed
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            split = archive["split"] if meta["has_split"] else None
            problems = list(scan_problems)
            problems += [
                Problem(safe_text(file_paths[i]), _unmask(r, file_paths[i]))
                for i, r in meta["skipped"]
            ]
            problems += [Problem(p, r) for p, r in meta["other_problems"]]
            return ImageSet(
                images=archive["images"],
                labels=archive["labels"].astype(np.int64),
                class_names=list(meta["class_names"]),
                groups=archive["groups"],
                ids=archive["ids"],
                split=split,
                problems=problems,
                source=meta["source"],
                info=meta["info"],
            )
    except Exception:  # noqa: BLE001 - a damaged cache entry is simply rebuilt
        return None


def save_cached(
    path: Path | None,
    data: ImageSet,
    scan_problems: list[Problem],
    skipped_items: list[int],
    file_paths: list[str],
) -> None:
    """Write atomically; a cache that cannot be written only costs speed, so it is not fatal.

    data.problems is scan_problems, then one problem per index of `skipped_items` (a file that
    could not be decoded), then the rest (classes left out), in that order.
    """
    if path is None:
        return
    first, last = len(scan_problems), len(scan_problems) + len(skipped_items)
    decoded = data.problems[first:last]
    meta = {
        "class_names": data.class_names,
        "skipped": [[i, _mask(p.reason, file_paths[i])] for i, p in zip(skipped_items, decoded)],
        "other_problems": [[p.path, p.reason] for p in data.problems[last:]],
        "source": data.source,
        "info": data.info,
        "has_split": data.split is not None,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_npz(
            path,
            images=data.images,
            labels=data.labels,
            groups=data.groups.astype(str),
            ids=data.ids.astype(str),
            split=np.asarray([] if data.split is None else data.split, dtype=str),
            meta=np.asarray(json.dumps(meta)),
        )
    except OSError:  # write_npz leaves no temporary behind
        return
    _remove_older(path)


def _remove_older(path: Path) -> None:
    """The other entries of this source at this size and channels (made before a file was
    edited, added or removed; or by another gaunet), and temporaries of killed writes."""
    prefix = path.name[: path.name.rindex("-") + 1]  # all but the key
    now = time.time()
    try:
        for other in path.parent.iterdir():
            older = other.name.startswith(prefix) and other.name != path.name
            leftover = other.name.startswith(".") and ".npz.tmp" in other.name
            if older or (leftover and now - other.stat().st_mtime > STALE_TEMPORARY_SECONDS):
                other.unlink(missing_ok=True)
    except OSError:  # another process's entry, a read-only folder: left as it is
        pass

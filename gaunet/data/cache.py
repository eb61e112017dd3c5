"""The decoded-array cache: decode and resize a file source once per (source, size, channels).

Key: a hash of everything that changes the result (the readers' own code, the file list with
each file's size, mtime, ctime and inode, labels, size, channels, reader options), so an
edited, added or removed file, or another gaunet, makes a new entry instead of a stale hit.
Saving an entry removes the older entries of the same source at the same size and channels
(and temporaries a killed write left over a day ago), so the cache does not grow with edits. Entries are uncompressed .npz written atomically
(gaunet.io.write_npz), so an interrupted write never leaves a half file under the real name; a
file that does not load is rebuilt, with a note saying so (info["notes"]).

Not written at all (only speed is lost): an entry in which a file was skipped for a reason of
the moment, not of the file (out of memory, an OS error such as EIO or EMFILE: the next read
decodes it), and an entry whose files carry whole-second timestamps (HFS+, ext3, FAT, some
network shares) changed within seconds of the lookup, where a same-size edit in the same second
would keep size, mtime and ctime (the key's stamp) and be served stale.

Entries hold no file name or patient id in clear: ids and groups are already opaque
(gaunet.data.ids), and a skipped file is stored as its index in the source's file list (its
reason with the path masked), rebuilt into a path from the list on load.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from gaunet.data.imageset import ImageSet, Problem
from gaunet.data.readers.items import safe_text
from gaunet.io import write_npz

CACHE_VERSION = 3  # 2: opaque ids and groups, no file names; 3: the readers' code in the key
STALE_TEMPORARY_SECONDS = 24 * 3600
COARSE_SECONDS = 3.0  # a 2-second FAT timestamp, plus the time from the key's stat to the lookup
DECODER_LIBRARIES = (
    ("pillow",), ("numpy",), ("pydicom",), ("nibabel",),
    ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless",
     "opencv-contrib-python"),
)  # fmt: skip
# An OS error of the moment (the next read may work) or memory: not a property of the file.
_TRANSIENT = re.compile(r"\[Errno \d+\]|too large to decode in memory|^cannot be read \(")


@dataclass
class Lookup:
    """One look in the cache, handed from load_cached to save_cached: the entry's path, the
    ImageSet found (None: decode and save), when it was looked up (the key's stat was taken
    just before) and why an entry there could not be read (for the rebuild's note)."""

    path: Path | None
    data: ImageSet | None = None
    looked_up: float = field(default_factory=time.time)
    damaged: str | None = None


@lru_cache(maxsize=1)
def reader_fingerprint() -> str:
    """A digest of the code that turns files into pixels and ids (readers/, prepare.py, the
    opaque ids of ids.py, this module's entry layout): a gaunet that decodes otherwise never
    reads an entry an older one wrote."""
    digest = hashlib.sha256()
    data = Path(__file__).parent
    code = [
        *(data / "readers").glob("*.py"),
        data / "prepare.py",
        data / "ids.py",
        data / "cache.py",
    ]
    for path in sorted(code):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def decoder_versions() -> tuple[str | None, ...]:
    """The installed versions of the libraries that decode and resize (Pillow, OpenCV, pydicom,
    nibabel, NumPy): an upgraded decoder can give other pixels for the same file."""
    from importlib.metadata import PackageNotFoundError, version

    found: list[str | None] = []
    for names in DECODER_LIBRARIES:
        for name in names:
            try:
                found.append(f"{name} {version(name)}")
                break
            except PackageNotFoundError:
                continue
        else:
            found.append(None)
    return tuple(found)  # read once a process: an installed package does not change under it


def cache_home() -> Path:
    """$GAUNET_CACHE, else ~/.cache/gaunet: the one root of gaunet's caches (the decoded images
    here, the domain classifier's weights). A `~` in $GAUNET_CACHE (quoted, or from a .env
    file, where no shell expanded it) is the home folder, not a folder named `~` in the working
    directory. Raises RuntimeError, KeyError or OSError where there is no home folder."""
    given = os.environ.get("GAUNET_CACHE")
    return Path(given).expanduser() if given else Path.home() / ".cache" / "gaunet"


def cache_dir() -> Path | None:
    """cache_home(); None when GAUNET_NO_CACHE=1."""
    if os.environ.get("GAUNET_NO_CACHE", "") == "1":
        return None
    try:  # no $HOME and no passwd entry (a container's arbitrary uid): no cache, not a crash
        return cache_home()
    except (RuntimeError, KeyError, OSError):
        return None


def cache_key(identity: object) -> str:
    """A short hex digest of a JSON-able description of the source."""
    code = [CACHE_VERSION, reader_fingerprint(), list(decoder_versions())]
    text = json.dumps([*code, identity], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cache_path(
    kind: str, source: str, key: str, size: int, channels: int, options: object = None
) -> Path | None:
    """`KIND-NAME-WHERE[oOPTS]-Spx-Cch-KEY.npz`: NAME the source's own name, WHERE a digest of
    its absolute path (two sources of one name are two sets of entries), OPTS one of the other
    reading options (`--window`, `--skip-blank-slices`) when given, so entries of one source
    read two ways do not evict each other (_remove_older), KEY its content's."""
    root = cache_dir()
    if root is None:
        return None
    name = Path(source).name
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40] or "source"
    where = hashlib.sha256(os.path.abspath(os.path.expanduser(source)).encode()).hexdigest()[:8]
    if options is not None:
        where += "o" + hashlib.sha256(json.dumps(options, default=str).encode()).hexdigest()[:6]
    return root / f"{kind}-{safe}-{where}-{size}px-{channels}ch-{key}.npz"


def _mask(reason: str, path: str) -> str:
    """The reason with the file's path and name replaced by markers (restored by _unmask)."""
    shown = safe_text(path)
    return reason.replace(shown, "\x00P").replace(safe_text(Path(path).name), "\x00N")


def _unmask(reason: str, path: str) -> str:
    return reason.replace("\x00P", safe_text(path)).replace("\x00N", safe_text(Path(path).name))


def load_cached(path: Path | None, file_paths: list[str], scan_problems: list[Problem]) -> Lookup:
    """The lookup of `path`: `.data` is the cached ImageSet, or None when absent or unreadable
    (then it is rebuilt and given to save_cached with this lookup).

    file_paths: the source's files in item order; scan_problems: the problems found while
    listing them (not stored: they are found again before the cache is looked up).
    """
    lookup = Lookup(path)
    if path is None:
        return lookup
    try:  # an unreadable cache folder (another user's, no permission) only costs speed
        if not path.is_file():
            return lookup
    except OSError:
        return lookup
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            split = archive["split"] if meta["has_split"] else None
            problems = list(scan_problems)
            problems += [
                Problem(safe_text(file_paths[i]), _unmask(r, file_paths[i]))
                for i, r in meta["skipped"]
            ]
            problems += [Problem(p, r) for p, r in meta["other_problems"]]
            data = ImageSet(
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
        _check(data, path)
        lookup.data = data
    except PermissionError:  # another user's entry: only speed is lost
        pass
    except Exception as error:  # noqa: BLE001 - a damaged cache entry is rebuilt, with a note
        lookup.damaged = f"{type(error).__name__}: {error}".splitlines()[0][:200]
    return lookup


def _check(data: ImageSet, path: Path) -> None:
    """ValueError unless the entry holds what its name and its own class list say."""
    size, channels = (int(part[:-2]) for part in path.name.split("-")[-3:-1])
    if data.images.shape[1:] != (channels, size, size):
        raise ValueError(f"images of shape {data.images.shape[1:]}, not {(channels, size, size)}")
    if len(data) and not 0 <= data.labels.min() <= data.labels.max() < data.num_classes:
        raise ValueError(f"labels outside 0..{data.num_classes - 1}")
    if data.split is not None and not set(np.unique(data.split)) <= {"train", "val", "test"}:
        raise ValueError("split values other than train, val, test")


def save_cached(
    lookup: Lookup,
    data: ImageSet,
    scan_problems: list[Problem],
    skipped_items: list[int],
    file_paths: list[str],
) -> bool:
    """Write atomically; a cache that cannot be written only costs speed, so it is not fatal.
    Whether the entry was written (`data inspect` names only an entry that is there).

    data.problems is scan_problems, then one problem per index of `skipped_items` (a file that
    could not be decoded), then the rest (classes left out), in that order.
    """
    path, damaged = lookup.path, lookup.damaged
    if path is None:
        return False
    first, last = len(scan_problems), len(scan_problems) + len(skipped_items)
    decoded = data.problems[first:last]
    if any(_TRANSIENT.search(p.reason) for p in decoded) or _coarse_and_fresh(
        file_paths, lookup.looked_up
    ):
        _note_damaged(data, path, damaged, written=False)
        return False
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
        _note_damaged(data, path, damaged, written=False)
        return False
    _note_damaged(data, path, damaged, written=True)
    _remove_older(path)
    return True


def _note_damaged(data: ImageSet, path: Path, damaged: str | None, written: bool) -> None:
    """A note (after the entry's own notes were stored) that the entry did not load."""
    if damaged is None:
        return
    done = "decoded again and rewritten" if written else "decoded again"
    note = f"the cache entry {path} could not be read ({damaged}): {done}"
    notes = data.info.setdefault("notes", {})
    notes[note] = len(data)


def _coarse_and_fresh(file_paths: list[str], looked_up: float) -> bool:
    """Whether a file has whole-second mtime and ctime (a filesystem that stores no finer)
    that lie within COARSE_SECONDS of the lookup: an edit in that second keeps the key."""
    now = time.time()
    for name in file_paths:
        try:
            stat = Path(name).stat()
        except OSError:
            continue
        stamps = (stat.st_mtime_ns, stat.st_ctime_ns)
        if any(stamp % 1_000_000_000 for stamp in stamps):
            continue  # finer than seconds: an edit after the lookup changes them
        newest = max(stamps) / 1e9
        if looked_up - COARSE_SECONDS <= newest <= now + COARSE_SECONDS:
            return True
    return False


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

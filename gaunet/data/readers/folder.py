"""Class-folder trees: root/<class>/**/<image>; the folder name is the class.

Class names are the sorted folder names. Hidden files (".DS_Store") and Windows' folder files
("Thumbs.db", "desktop.ini") are ignored silently, and so are hidden folders below a class
folder; a top-level folder whose name starts with a dot (".git", "...") is no class, and says
so in one line. Any other file that is not a supported
image is reported. A class with fewer than MIN_PER_CLASS (2) usable images is reported and
left out (gaunet.data.readers.build.class_minimum: the same rule for `gaunet generate` folders).
"""

from __future__ import annotations

import os
from pathlib import Path

from gaunet.data.imageset import Problem
from gaunet.data.readers.decode import file_kind
from gaunet.data.readers.items import Item, SourceError, safe_text

# Files an operating system writes into any folder it shows: no image, nothing to report
SYSTEM_FILES = {"thumbs.db", "desktop.ini", "ehthumbs.db"}


def _system_file(name: str) -> bool:
    """Hidden (".DS_Store", "._x.png") or Windows' folder files ("Thumbs.db", "desktop.ini")."""
    return name.startswith(".") or name.lower() in SYSTEM_FILES


def files_under(
    folder: Path, problems: list[Problem] | None = None, seen: set[str] | None = None
) -> list[Path]:
    """Every non-hidden file below `folder`, sorted, at any depth.

    Symlinked sub-folders are followed; one that leads to a folder already read (a loop back up,
    or a second link to the same folder, whose images would otherwise be read twice and could
    land in two splits) is skipped and, when `problems` is given, reported there. `seen` (real
    paths) is shared between calls so that a link into another class folder is caught too. A
    folder that cannot be listed (no permission) is reported there too.
    """
    found = []
    seen = set() if seen is None else seen
    seen.add(os.path.realpath(folder))

    def unlisted(error: OSError) -> None:  # os.walk would pass over such a folder silently
        if problems is not None:
            shown = safe_text(str(error.filename or folder))
            reason = error.strerror or str(error)
            problems.append(Problem(shown, f"folder cannot be listed ({reason}); not read"))

    for parent, dirs, files in os.walk(folder, followlinks=True, onerror=unlisted):
        kept = []
        for name in sorted(d for d in dirs if not d.startswith(".")):
            real = os.path.realpath(os.path.join(parent, name))
            if real in seen:
                if problems is not None:
                    shown = safe_text(os.path.join(parent, name))
                    problems.append(
                        Problem(
                            shown, f"link to a folder already read ({safe_text(real)}); skipped"
                        )
                    )
                continue
            seen.add(real)
            kept.append(name)
        dirs[:] = kept
        found += [Path(parent) / f for f in sorted(files) if not _system_file(f)]
    return found


def scan_class_folders(root: Path) -> tuple[list[Item], list[str], list[Problem]]:
    """Items labelled by their top-level folder, class names, and the files not used."""
    problems: list[Problem] = []
    classes = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") and entry.is_dir():  # `...`, `.hidden`, `.git`: one line
            problems.append(
                Problem(
                    safe_text(str(entry)),
                    "folder name starts with a dot (hidden), so it is not a class; not read",
                )
            )
            continue
        if entry.name.startswith("."):
            continue
        if entry.name == "__MACOSX" and entry.is_dir():  # a zip made on a Mac: `._x.png` files
            reason = "macOS zip metadata (resource forks), not a class; not read"
            problems.append(Problem(safe_text(str(entry)), reason))
            continue
        if entry.is_dir():
            classes.append(entry.name)
        elif entry.is_symlink() and not entry.exists():  # its target gone: a class, perhaps
            problems.append(Problem(safe_text(str(entry)), "link to nothing (broken); not read"))
        elif file_kind(entry) is not None:
            problems.append(Problem(safe_text(str(entry)), "not inside a class folder; skipped"))
    if not classes:
        raise SourceError(
            f"{safe_text(str(root))}: no class folders inside (expected root/<class>/<image>, "
            "a manifest.csv, or an .npz)"
        )
    classes = _distinct_folders(root, classes, problems)
    _refuse_look_alike(root, classes)
    if _split_layout(root, classes):
        shown = safe_text(str(root))
        one = next((c for c in classes if c.lower().startswith("train")), classes[0])
        raise SourceError(
            f"{shown}: its folders {', '.join(safe_text(c) for c in classes)} hold class folders "
            f"(a split layout, {shown}/<split>/<class>/<image>), so the split names would be "
            f"read as the classes; give one split as SOURCE ({shown}/{safe_text(one)}), "
            "or write a manifest.csv with path,label,split (`gaunet data prepare "
            "chest-xray-pediatric` does for Kermany's chest X-rays)"
        )
    items = []
    seen = {os.path.realpath(root / name) for name in classes}
    for name in classes:
        for path in files_under(root / name, problems, seen):
            if file_kind(path) is None:
                shown = path.suffix or "(no extension)"
                problems.append(Problem(safe_text(str(path)), f"unsupported format '{shown}'"))
                continue
            item_id = safe_text(path.relative_to(root).as_posix())
            items.append(Item(path=path, item_id=item_id, class_name=safe_text(name)))
    return items, [safe_text(c) for c in classes], problems


def _distinct_folders(root: Path, classes: list[str], problems: list[Problem]) -> list[str]:
    """The class folders less those that are links to a class folder kept (`c -> a`: a's
    images would be read twice, under two labels); the real folder is kept over a link to it,
    else the first name."""
    kept: dict[str, str] = {}
    for name in sorted(classes, key=lambda n: ((root / n).is_symlink(), n)):
        real = os.path.realpath(root / name)
        if real in kept:
            problems.append(
                Problem(
                    safe_text(str(root / name)),
                    f"link to class folder {safe_text(kept[real])!r}, already read; not a "
                    "class of its own, not read",
                )
            )
            continue
        kept[real] = name
    return [name for name in classes if name in kept.values()]


def _refuse_look_alike(root: Path, classes: list[str]) -> None:
    """Class folders whose names differ only in case or outer spaces (`Benign`, `benign `): two
    classes to the reader, almost surely one to the user, and the same folder on a Mac."""
    seen: dict[str, str] = {}
    for name in classes:
        key = name.strip().casefold()
        if key in seen:
            raise SourceError(
                f"{safe_text(str(root))}: class folders {safe_text(seen[key])!r} and "
                f"{safe_text(name)!r} differ only in case or spaces, so they would be two "
                "classes: merge them into one folder, or rename one (or list the images in a "
                "manifest, whose class names are taken as written)"
            )
        seen[key] = name


SPLIT_FOLDERS = {"train", "val", "test", "training", "valid", "validation", "testing"}


def _split_layout(root: Path, classes: list[str]) -> bool:
    """Every class folder is named like a split and holds only folders, no image directly:
    `root/train/NORMAL/x.jpeg` (Kermany's chest X-rays), where the splits are no classes."""
    if not all(name.strip().lower() in SPLIT_FOLDERS for name in classes):
        return False
    holding = 0  # split folders holding class folders; an empty one (a `val/` to come) is no sign
    for name in classes:
        try:
            with os.scandir(root / name) as listing:
                entries = [e for e in listing if not e.name.startswith(".")]
        except OSError:
            return False
        if any(e.is_file() and file_kind(Path(e.path)) is not None for e in entries):
            return False
        if entries and not any(e.is_dir() for e in entries):
            return False
        holding += any(e.is_dir() for e in entries)
    return holding > 0
